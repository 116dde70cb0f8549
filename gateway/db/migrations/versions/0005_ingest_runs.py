"""Ingest runs with a state, a content hash and a heartbeat; observations keyed by what they are of

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Issue 16 items 5 and 6. An ingest run is ``running`` while its batches are committed and becomes
``completed`` or ``failed``; its content hash makes re-reading the same source a no-op; the
observations' ``value_key`` (what a value is of, not the value) finds the stored value a re-read
replaces. Existing runs are ``completed`` and existing observations get their ``value_key`` here.
"""
import hashlib
import json

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

STATES = "state IN ('running', 'completed', 'failed', 'unchanged')"


def value_key(regime: str, form: str, indicator: str, period: str, unit: str, disaggregation: object) -> str:
    """The same digest as ``gateway.ingest.value_key`` (kept here so the migration never changes)."""
    pairs = disaggregation if isinstance(disaggregation, list) else json.loads(str(disaggregation or "[]"))
    text = "|".join([regime, form, indicator, period, unit, *("=".join(map(str, p)) for p in pairs)])
    return hashlib.sha256(text.encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table('ingest_runs') as batch:
        batch.add_column(sa.Column('state', sa.String(length=20), nullable=False, server_default='completed'))
        batch.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True,
                                   comment="SHA-256 of the source's bytes (or records)"))
        batch.add_column(sa.Column('input_hash', sa.String(length=64), nullable=True,
                                   comment='content + adapter + options + mapping + reporting unit: equal means no-op'))
        batch.add_column(sa.Column('reporting_unit', sa.String(length=100), nullable=True))
        for name, comment in (
            ('added', 'values stored for the first time'),
            ('changed', 'values that replace a different stored value'),
            ('unchanged', 'values equal to the stored ones: not stored'),
            ('outside_regime', 'values no regime will send'),
        ):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default='0', comment=comment))
        batch.add_column(sa.Column('summary', sa.JSON(), nullable=True, comment='changed values, corrections, reasons'))
        batch.add_column(sa.Column('error', sa.Text(), nullable=True))
        batch.add_column(sa.Column('host', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('pid', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(op.f('ck_ingest_runs_state'), STATES)
        batch.create_index('ix_ingest_runs_state', ['state'])
        batch.create_index(batch.f('ix_ingest_runs_input_hash'), ['input_hash'])
    with op.batch_alter_table('observations') as batch:
        batch.add_column(sa.Column('value_key', sa.String(length=64), nullable=True,
                                   comment='SHA-256 of what the value is of (report, indicator, disaggregation), not of the value'))
        batch.create_index('ix_observations_value_key', ['value_key', 'id'])
        batch.create_index('ix_observations_ingest_run', ['ingest_run_id'])
    op.create_index('ix_quarantine_ingest_run', 'quarantine', ['ingest_run_id'])

    conn = op.get_bind()
    obs = sa.table(
        'observations',
        sa.column('id', sa.Integer), sa.column('regime_code', sa.String), sa.column('form_code', sa.String),
        sa.column('indicator_code', sa.String), sa.column('period_key', sa.String),
        sa.column('reporting_unit', sa.String), sa.column('disaggregation', sa.JSON),
        sa.column('value_key', sa.String),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(obs.c.id, obs.c.regime_code, obs.c.form_code, obs.c.indicator_code, obs.c.period_key,
                      obs.c.reporting_unit, obs.c.disaggregation)
            .where(obs.c.id > last).order_by(obs.c.id).limit(5000)
        ).all()
        if not rows:
            break
        conn.execute(
            obs.update().where(obs.c.id == sa.bindparam('b_id')).values(value_key=sa.bindparam('b_key')),
            [{'b_id': r[0], 'b_key': value_key(*r[1:])} for r in rows],
        )
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index('ix_quarantine_ingest_run', table_name='quarantine')
    with op.batch_alter_table('observations') as batch:
        batch.drop_index('ix_observations_ingest_run')
        batch.drop_index('ix_observations_value_key')
        batch.drop_column('value_key')
    with op.batch_alter_table('ingest_runs') as batch:
        batch.drop_index(batch.f('ix_ingest_runs_input_hash'))
        batch.drop_index('ix_ingest_runs_state')
        batch.drop_constraint(op.f('ck_ingest_runs_state'), type_='check')
        for name in ('finished_at', 'heartbeat_at', 'pid', 'host', 'error', 'summary', 'outside_regime',
                     'unchanged', 'changed', 'added', 'reporting_unit', 'input_hash', 'content_hash', 'state'):
            batch.drop_column(name)
