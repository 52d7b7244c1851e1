"""appointments, care flags, carers, api keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 14:59:24.791624
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.models


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash'),
    sa.UniqueConstraint('name')
    )
    op.create_table('appointment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('starts_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('location', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('directions', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('clinician', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('practice_ods', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('answered_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_ods'], ['practice.ods_code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_id')
    )
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.create_index('ix_appointment_person_starts', ['person_id', 'starts_at'], unique=False)

    op.create_table('care_flag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('raised_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('care_flag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_care_flag_person_id'), ['person_id'], unique=False)

    op.create_table('appointment_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('appointment_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointment_event_appointment_id'), ['appointment_id'], unique=False)

    op.create_table('carer_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('carer_id', sa.Integer(), nullable=False),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('removed_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['carer_id'], ['person.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['person.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('carer_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_carer_link_carer_id'), ['carer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_carer_link_patient_id'), ['patient_id'], unique=False)

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))
        batch_op.add_column(sa.Column('expires_at', bot.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_message_topic'), ['topic'], unique=False)

    with op.batch_alter_table('enrolment_code', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False, server_default='join'))

    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.create_unique_constraint('uq_person_external_id', ['external_id'])

    with op.batch_alter_table('practice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('booking_url', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False, server_default=''))



def downgrade() -> None:
    with op.batch_alter_table('practice', schema=None) as batch_op:
        batch_op.drop_column('booking_url')
        batch_op.drop_column('phone')

    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_constraint('uq_person_external_id', type_='unique')
        batch_op.drop_column('external_id')

    with op.batch_alter_table('enrolment_code', schema=None) as batch_op:
        batch_op.drop_column('purpose')

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_message_topic'))
        batch_op.drop_column('expires_at')
        batch_op.drop_column('topic')

    with op.batch_alter_table('appointment_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointment_event_appointment_id'))

    with op.batch_alter_table('carer_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_carer_link_patient_id'))
        batch_op.drop_index(batch_op.f('ix_carer_link_carer_id'))

    op.drop_table('carer_link')
    op.drop_table('appointment_event')
    with op.batch_alter_table('care_flag', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_care_flag_person_id'))

    op.drop_table('care_flag')
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_index('ix_appointment_person_starts')

    op.drop_table('appointment')
    op.drop_table('api_key')
