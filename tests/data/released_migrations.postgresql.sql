BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 248afac52450

CREATE TABLE thread (
    id VARCHAR(36) NOT NULL, 
    title VARCHAR(200) NOT NULL, 
    claude_session_id VARCHAR(100), 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_thread PRIMARY KEY (id)
);

CREATE INDEX ix_thread_updated_at ON thread (updated_at, id);

CREATE TABLE message (
    id VARCHAR(36) NOT NULL, 
    thread_id VARCHAR(36) NOT NULL, 
    role VARCHAR(16) NOT NULL, 
    content TEXT NOT NULL, 
    status VARCHAR(16) NOT NULL, 
    error TEXT, 
    turn_id VARCHAR(36), 
    meta JSON, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_message PRIMARY KEY (id), 
    CONSTRAINT ck_message_role CHECK (role IN ('user', 'assistant')), 
    CONSTRAINT ck_message_status CHECK (status IN ('complete', 'streaming', 'error', 'cancelled', 'interrupted')), 
    CONSTRAINT fk_message_thread_id_thread FOREIGN KEY(thread_id) REFERENCES thread (id) ON DELETE CASCADE
);

CREATE INDEX ix_message_thread_id_created_at ON message (thread_id, created_at, id);

INSERT INTO alembic_version (version_num) VALUES ('248afac52450') RETURNING alembic_version.version_num;

-- Running upgrade 248afac52450 -> 5a1c0e7d9b21

ALTER TABLE thread ADD COLUMN permission_mode VARCHAR(32);

ALTER TABLE thread ADD COLUMN allowed_tools JSON;

ALTER TABLE thread ADD CONSTRAINT ck_thread_permission_mode CHECK (permission_mode IS NULL OR permission_mode IN ('bypassPermissions', 'acceptEdits', 'default', 'plan'));

ALTER TABLE message DROP CONSTRAINT ck_message_status;

ALTER TABLE message ADD CONSTRAINT ck_message_status CHECK (status IN ('complete', 'streaming', 'error', 'cancelled', 'interrupted', 'queued'));

CREATE INDEX ix_message_queued ON message (thread_id, created_at) WHERE status = 'queued';

UPDATE alembic_version SET version_num='5a1c0e7d9b21' WHERE alembic_version.version_num = '248afac52450';

-- Running upgrade 5a1c0e7d9b21 -> 7c3e9f41a2d8

ALTER TABLE thread ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(title, '[^[:alnum:]]+', ' ', 'g'))) STORED;

ALTER TABLE message ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(left(content, 100000), '[^[:alnum:]]+', ' ', 'g'))) STORED;

CREATE INDEX ix_thread_search ON thread USING gin (search_vector);

CREATE INDEX ix_message_search ON message USING gin (search_vector);

UPDATE alembic_version SET version_num='7c3e9f41a2d8' WHERE alembic_version.version_num = '5a1c0e7d9b21';

-- Running upgrade 7c3e9f41a2d8 -> d4a8b2c61e07

CREATE TABLE users (
    id VARCHAR(36) NOT NULL, 
    username VARCHAR(254) NOT NULL, 
    password_hash VARCHAR(255), 
    is_admin BOOLEAN NOT NULL, 
    disabled BOOLEAN NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_users PRIMARY KEY (id), 
    CONSTRAINT uq_users_username UNIQUE (username)
);

CREATE TABLE user_session (
    id VARCHAR(36) NOT NULL, 
    user_id VARCHAR(36) NOT NULL, 
    token_hash VARCHAR(64) NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_user_session PRIMARY KEY (id), 
    CONSTRAINT fk_user_session_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE, 
    CONSTRAINT uq_user_session_token_hash UNIQUE (token_hash)
);

CREATE INDEX ix_user_session_user_id ON user_session (user_id);

CREATE TABLE api_token (
    id VARCHAR(36) NOT NULL, 
    user_id VARCHAR(36) NOT NULL, 
    name VARCHAR(100) NOT NULL, 
    token_hash VARCHAR(64) NOT NULL, 
    hint VARCHAR(8) NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_api_token PRIMARY KEY (id), 
    CONSTRAINT fk_api_token_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE, 
    CONSTRAINT uq_api_token_token_hash UNIQUE (token_hash)
);

CREATE INDEX ix_api_token_user_id ON api_token (user_id);

INSERT INTO users (id, username, password_hash, is_admin, disabled, created_at) VALUES ('00000000-0000-4000-8000-000000000000', ':local', NULL, false, false, '<now>');

ALTER TABLE thread ADD COLUMN owner_id VARCHAR(36);

UPDATE thread SET owner_id = '00000000-0000-4000-8000-000000000000';

ALTER TABLE thread ALTER COLUMN owner_id SET NOT NULL;

ALTER TABLE thread ADD CONSTRAINT fk_thread_owner_id_users FOREIGN KEY(owner_id) REFERENCES users (id) ON DELETE CASCADE;

CREATE INDEX ix_thread_owner_id_updated_at ON thread (owner_id, updated_at, id);

UPDATE alembic_version SET version_num='d4a8b2c61e07' WHERE alembic_version.version_num = '7c3e9f41a2d8';

-- Running upgrade d4a8b2c61e07 -> e5b9c3d72f18

CREATE TABLE agent_login (
    user_id VARCHAR(36) NOT NULL, 
    kind VARCHAR(16) NOT NULL, 
    sealed TEXT NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_agent_login PRIMARY KEY (user_id), 
    CONSTRAINT ck_agent_login_kind CHECK (kind IN ('oauth_token', 'api_key')), 
    CONSTRAINT fk_agent_login_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

UPDATE alembic_version SET version_num='e5b9c3d72f18' WHERE alembic_version.version_num = 'd4a8b2c61e07';

-- Running upgrade e5b9c3d72f18 -> b4d2e8f61c30

CREATE INDEX ix_message_search_recency ON message (created_at, id);

UPDATE alembic_version SET version_num='b4d2e8f61c30' WHERE alembic_version.version_num = 'e5b9c3d72f18';

-- Running upgrade b4d2e8f61c30 -> c7a91d3e5f02

ALTER TABLE thread ADD COLUMN forked_from_thread_id VARCHAR(36);

ALTER TABLE thread ADD COLUMN forked_from_message_id VARCHAR(36);

ALTER TABLE thread ADD COLUMN fork_session_id VARCHAR(100);

ALTER TABLE thread ADD COLUMN fork_at_entry VARCHAR(100);

UPDATE alembic_version SET version_num='c7a91d3e5f02' WHERE alembic_version.version_num = 'b4d2e8f61c30';

COMMIT;

