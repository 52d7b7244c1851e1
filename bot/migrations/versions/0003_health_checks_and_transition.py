"""health checks and transition

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 15:33:09.097046
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.models


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('health_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('last_check_on', sa.Date(), nullable=True),
    sa.Column('has_condition', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=True),
    sa.Column('takes_statin', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('invited_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('person_id')
    )
    op.create_table('transition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('named_worker', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['worker_id'], ['person.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('person_id')
    )
    op.create_table('transition_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('question', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=15), nullable=False),
    sa.Column('answered_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('transition_answer', schema=None) as batch_op:
        batch_op.create_index('ux_transition_answer', ['person_id', 'question'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('transition_answer', schema=None) as batch_op:
        batch_op.drop_index('ux_transition_answer')

    op.drop_table('transition_answer')
    op.drop_table('transition')
    op.drop_table('health_check')
