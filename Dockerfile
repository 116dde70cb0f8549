# The gateway as a container image: `docker build -t vn-report-gateway .` (ops/compose.yaml builds it).
# Two stages: the first builds the wheel and installs it, at the versions locked in constraints.txt,
# into a virtual environment; the second carries only that environment and runs as a user without
# privileges. Checked by hadolint in CI (tests/unit/test_deployment.py).
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /opt/gateway
COPY pyproject.toml setup.py constraints.txt README.md LICENSE ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY mappings ./mappings
COPY contracts ./contracts
COPY examples ./examples
RUN /opt/gateway/bin/pip install --no-cache-dir -c constraints.txt . \
    && /opt/gateway/bin/gateway --version

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /var/lib/gateway --create-home --shell /usr/sbin/nologin gateway
COPY --from=build /opt/gateway /opt/gateway
ENV PATH=/opt/gateway/bin:$PATH \
    GATEWAY_DATA_DIR=/var/lib/gateway \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /var/lib/gateway
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --retries=4 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
ENTRYPOINT ["gateway"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
