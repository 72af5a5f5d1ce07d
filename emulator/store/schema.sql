-- The store's schema, made by `python -m emulator.store.schema` from emulator/store/models.py: do not edit.
-- models.py sha256: 9a80af52ffc29bcce79257d05b0ea8e0541c665b9d21303a8d226ad720d32c2e

CREATE TABLE meta (
	"key" VARCHAR NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY ("key")
);

CREATE TABLE projects (
	id VARCHAR NOT NULL,
	display_name VARCHAR NOT NULL,
	description VARCHAR NOT NULL,
	created_at_millis INTEGER NOT NULL,
	config_path VARCHAR,
	config_override JSON NOT NULL,
	owner_team_id VARCHAR,
	is_production_mode BOOLEAN NOT NULL,
	logo_url TEXT,
	logo_full_url TEXT,
	logo_dark_mode_url TEXT,
	logo_full_dark_mode_url TEXT,
	onboarding_status VARCHAR NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (config_path)
);

CREATE INDEX ix_projects_owner_team_id ON projects (owner_team_id);

CREATE TABLE verification_codes (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	type VARCHAR NOT NULL,
	code VARCHAR NOT NULL,
	data JSON NOT NULL,
	created_at_millis INTEGER NOT NULL,
	expires_at_millis INTEGER NOT NULL,
	used_at_millis INTEGER,
	attempt_count INTEGER NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (code)
);

CREATE INDEX ix_verification_codes_project_id ON verification_codes (project_id);

CREATE TABLE email_messages (
	id VARCHAR NOT NULL,
	project_id VARCHAR,
	source VARCHAR NOT NULL,
	created_at_millis INTEGER NOT NULL,
	sender VARCHAR NOT NULL,
	recipients JSON NOT NULL,
	subject TEXT NOT NULL,
	text TEXT,
	html TEXT,
	headers JSON NOT NULL,
	attachments JSON NOT NULL,
	raw BLOB NOT NULL,
	code VARCHAR,
	links JSON NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_email_messages_created_at_millis ON email_messages (created_at_millis);

CREATE INDEX ix_email_messages_project_id ON email_messages (project_id);

CREATE TABLE stored_files (
	"key" VARCHAR NOT NULL,
	content_type VARCHAR NOT NULL,
	data BLOB NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY ("key")
);

CREATE TABLE email_outbox (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	created_at_millis INTEGER NOT NULL,
	status VARCHAR NOT NULL,
	simple_status VARCHAR NOT NULL,
	delivered_at_millis INTEGER,
	item JSON NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_email_outbox_created_at_millis ON email_outbox (created_at_millis);

CREATE INDEX ix_email_outbox_project_id ON email_outbox (project_id);

CREATE TABLE oauth_outer_info (
	inner_state VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	info JSON NOT NULL,
	expires_at_millis INTEGER NOT NULL,
	PRIMARY KEY (inner_state)
);

CREATE INDEX ix_oauth_outer_info_project_id ON oauth_outer_info (project_id);

CREATE TABLE oauth_authorization_codes (
	code VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	user_id VARCHAR NOT NULL,
	redirect_uri TEXT NOT NULL,
	code_challenge VARCHAR NOT NULL,
	code_challenge_method VARCHAR NOT NULL,
	new_user BOOLEAN NOT NULL,
	after_callback_redirect_url TEXT,
	granted_refresh_token_id VARCHAR,
	expires_at_millis INTEGER NOT NULL,
	PRIMARY KEY (code)
);

CREATE INDEX ix_oauth_authorization_codes_project_id ON oauth_authorization_codes (project_id);

CREATE TABLE oauth_sim_identities (
	provider_type VARCHAR NOT NULL,
	account_id VARCHAR NOT NULL,
	email VARCHAR,
	name VARCHAR,
	avatar_url TEXT,
	email_verified BOOLEAN NOT NULL,
	last_used_at_millis INTEGER NOT NULL,
	PRIMARY KEY (provider_type, account_id)
);

CREATE TABLE oauth_sim_grants (
	token VARCHAR NOT NULL,
	kind VARCHAR NOT NULL,
	provider_type VARCHAR NOT NULL,
	account_id VARCHAR NOT NULL,
	client_id VARCHAR NOT NULL,
	scope TEXT NOT NULL,
	data JSON NOT NULL,
	expires_at_millis INTEGER,
	revoked BOOLEAN NOT NULL,
	PRIMARY KEY (token)
);

CREATE TABLE mail_relays (
	message_id VARCHAR NOT NULL,
	server VARCHAR NOT NULL,
	status VARCHAR NOT NULL,
	error TEXT,
	updated_at_millis INTEGER NOT NULL,
	PRIMARY KEY (message_id)
);

CREATE TABLE config_levels (
	project_id VARCHAR NOT NULL,
	project_override JSON NOT NULL,
	environment_override JSON NOT NULL,
	branch_source JSON,
	PRIMARY KEY (project_id)
);

CREATE TABLE payment_accounts (
	project_id VARCHAR NOT NULL,
	stripe_account_id VARCHAR NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (project_id)
);

CREATE TABLE payment_customers (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	customer_type VARCHAR NOT NULL,
	customer_id VARCHAR NOT NULL,
	default_payment_method JSON,
	PRIMARY KEY (id)
);

CREATE INDEX ix_payment_customers_customer_id ON payment_customers (customer_id);

CREATE INDEX ix_payment_customers_project_id ON payment_customers (project_id);

CREATE TABLE product_versions (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	product_id VARCHAR,
	product JSON NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_product_versions_project_id ON product_versions (project_id);

CREATE TABLE subscriptions (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	customer_type VARCHAR NOT NULL,
	customer_id VARCHAR NOT NULL,
	product_id VARCHAR,
	product JSON NOT NULL,
	price_id VARCHAR,
	quantity INTEGER NOT NULL,
	status VARCHAR NOT NULL,
	creation_source VARCHAR NOT NULL,
	stripe_subscription_id VARCHAR,
	created_at_millis INTEGER NOT NULL,
	current_period_start_millis INTEGER NOT NULL,
	current_period_end_millis INTEGER NOT NULL,
	periods_elapsed INTEGER NOT NULL,
	trial_end_millis INTEGER,
	cancel_at_period_end BOOLEAN NOT NULL,
	canceled_at_millis INTEGER,
	ended_at_millis INTEGER,
	refunded_at_millis INTEGER,
	PRIMARY KEY (id)
);

CREATE INDEX ix_subscriptions_customer ON subscriptions (project_id, customer_type, customer_id);

CREATE INDEX ix_subscriptions_project_id ON subscriptions (project_id);

CREATE TABLE one_time_purchases (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	customer_type VARCHAR NOT NULL,
	customer_id VARCHAR NOT NULL,
	product_id VARCHAR,
	product JSON NOT NULL,
	price_id VARCHAR,
	quantity INTEGER NOT NULL,
	creation_source VARCHAR NOT NULL,
	stripe_payment_intent_id VARCHAR,
	created_at_millis INTEGER NOT NULL,
	refunded_at_millis INTEGER,
	PRIMARY KEY (id)
);

CREATE INDEX ix_one_time_purchases_customer ON one_time_purchases (project_id, customer_type, customer_id);

CREATE INDEX ix_one_time_purchases_project_id ON one_time_purchases (project_id);

CREATE TABLE item_quantity_changes (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	customer_type VARCHAR NOT NULL,
	customer_id VARCHAR NOT NULL,
	item_id VARCHAR NOT NULL,
	quantity INTEGER NOT NULL,
	expires_at_millis INTEGER,
	description TEXT,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_item_quantity_changes_customer ON item_quantity_changes (project_id, customer_type, customer_id);

CREATE INDEX ix_item_quantity_changes_project_id ON item_quantity_changes (project_id);

CREATE TABLE subscription_invoices (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	subscription_id VARCHAR NOT NULL,
	is_creation BOOLEAN NOT NULL,
	charged_amount JSON NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_subscription_invoices_project_id ON subscription_invoices (project_id);

CREATE INDEX ix_subscription_invoices_subscription_id ON subscription_invoices (subscription_id);

CREATE TABLE payment_refunds (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	source_kind VARCHAR NOT NULL,
	source_id VARCHAR NOT NULL,
	customer_type VARCHAR NOT NULL,
	customer_id VARCHAR NOT NULL,
	entries JSON NOT NULL,
	revoked_quantity INTEGER NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_payment_refunds_project_id ON payment_refunds (project_id);

CREATE TABLE cli_auth_attempts (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	polling_code VARCHAR NOT NULL,
	login_code VARCHAR NOT NULL,
	refresh_token VARCHAR,
	anon_refresh_token VARCHAR,
	created_at_millis INTEGER NOT NULL,
	expires_at_millis INTEGER NOT NULL,
	used_at_millis INTEGER,
	PRIMARY KEY (id),
	UNIQUE (polling_code),
	UNIQUE (login_code)
);

CREATE INDEX ix_cli_auth_attempts_project_id ON cli_auth_attempts (project_id);

CREATE TABLE data_vault_entries (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	store_id VARCHAR NOT NULL,
	hashed_key TEXT NOT NULL,
	ciphertext BLOB NOT NULL,
	created_at_millis INTEGER NOT NULL,
	updated_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_data_vault_entries_key ON data_vault_entries (project_id, store_id, hashed_key);

CREATE TABLE webhook_endpoints (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	uid VARCHAR,
	url TEXT NOT NULL,
	description TEXT NOT NULL,
	secret VARCHAR NOT NULL,
	previous_secret VARCHAR,
	previous_secret_expires_at_millis INTEGER,
	event_types JSON NOT NULL,
	channels JSON NOT NULL,
	metadata JSON NOT NULL,
	headers JSON NOT NULL,
	throttle_rate INTEGER,
	disabled BOOLEAN NOT NULL,
	failing_since_millis INTEGER,
	from_config BOOLEAN NOT NULL,
	created_at_millis INTEGER NOT NULL,
	updated_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_webhook_endpoints_project_id ON webhook_endpoints (project_id);

CREATE TABLE session_replays (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	user_id VARCHAR NOT NULL,
	refresh_token_id VARCHAR NOT NULL,
	started_at_millis INTEGER NOT NULL,
	last_event_at_millis INTEGER NOT NULL,
	updated_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_session_replays_project_id ON session_replays (project_id);

CREATE INDEX ix_session_replays_refresh_token_id ON session_replays (refresh_token_id);

CREATE TABLE session_replay_chunks (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	session_replay_id VARCHAR NOT NULL,
	batch_id VARCHAR NOT NULL,
	browser_session_id VARCHAR NOT NULL,
	session_replay_segment_id VARCHAR NOT NULL,
	started_at_ms INTEGER NOT NULL,
	sent_at_ms INTEGER NOT NULL,
	first_event_at_millis INTEGER NOT NULL,
	last_event_at_millis INTEGER NOT NULL,
	events JSON NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_session_replay_chunks_batch ON session_replay_chunks (session_replay_id, batch_id);

CREATE INDEX ix_session_replay_chunks_project_id ON session_replay_chunks (project_id);

CREATE TABLE analytics_events (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	event_at_millis INTEGER NOT NULL,
	data JSON NOT NULL,
	user_id VARCHAR NOT NULL,
	refresh_token_id VARCHAR NOT NULL,
	session_replay_id VARCHAR,
	session_replay_segment_id VARCHAR NOT NULL,
	batch_id VARCHAR NOT NULL,
	received_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_analytics_events_project_id ON analytics_events (project_id);

CREATE TABLE webhook_messages (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	event_id VARCHAR,
	channels JSON NOT NULL,
	payload JSON NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_webhook_messages_created_at_millis ON webhook_messages (created_at_millis);

CREATE INDEX ix_webhook_messages_project_id ON webhook_messages (project_id);

CREATE TABLE webhook_deliveries (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	message_id VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	status INTEGER NOT NULL,
	attempts_made INTEGER NOT NULL,
	next_attempt_at_millis INTEGER,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at_millis);

CREATE INDEX ix_webhook_deliveries_endpoint_id ON webhook_deliveries (endpoint_id);

CREATE INDEX ix_webhook_deliveries_message_id ON webhook_deliveries (message_id);

CREATE INDEX ix_webhook_deliveries_project_id ON webhook_deliveries (project_id);

CREATE TABLE webhook_attempts (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	message_id VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	url TEXT NOT NULL,
	status INTEGER NOT NULL,
	trigger_type INTEGER NOT NULL,
	response_status_code INTEGER NOT NULL,
	response TEXT NOT NULL,
	response_duration_ms INTEGER NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_webhook_attempts_created_at_millis ON webhook_attempts (created_at_millis);

CREATE INDEX ix_webhook_attempts_endpoint_id ON webhook_attempts (endpoint_id);

CREATE INDEX ix_webhook_attempts_message_id ON webhook_attempts (message_id);

CREATE INDEX ix_webhook_attempts_project_id ON webhook_attempts (project_id);

CREATE TABLE payment_account_states (
	project_id VARCHAR NOT NULL,
	onboarded BOOLEAN NOT NULL,
	payment_methods JSON NOT NULL,
	PRIMARY KEY (project_id)
);

CREATE TABLE email_drafts (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	display_name VARCHAR NOT NULL,
	tsx_source VARCHAR NOT NULL,
	theme_id JSON NOT NULL,
	sent_at_millis INTEGER,
	updated_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_email_drafts_project_id ON email_drafts (project_id);

CREATE TABLE api_key_sets (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	description VARCHAR NOT NULL,
	publishable_client_key VARCHAR,
	secret_server_key VARCHAR,
	super_secret_admin_key VARCHAR,
	created_at_millis INTEGER NOT NULL,
	expires_at_millis INTEGER,
	manually_revoked_at_millis INTEGER,
	PRIMARY KEY (id),
	FOREIGN KEY(project_id) REFERENCES projects (id) ON DELETE CASCADE
);

CREATE INDEX ix_api_key_sets_project_id ON api_key_sets (project_id);

CREATE INDEX ix_api_key_sets_publishable_client_key ON api_key_sets (publishable_client_key);

CREATE INDEX ix_api_key_sets_secret_server_key ON api_key_sets (secret_server_key);

CREATE INDEX ix_api_key_sets_super_secret_admin_key ON api_key_sets (super_secret_admin_key);

CREATE TABLE users (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	display_name VARCHAR,
	profile_image_url TEXT,
	signed_up_at_millis INTEGER NOT NULL,
	last_active_at_millis INTEGER NOT NULL,
	client_metadata JSON,
	client_read_only_metadata JSON,
	server_metadata JSON,
	is_anonymous BOOLEAN NOT NULL,
	password_hash VARCHAR,
	otp_auth_enabled BOOLEAN NOT NULL,
	passkey_auth_enabled BOOLEAN NOT NULL,
	totp_secret_base64 VARCHAR,
	selected_team_id VARCHAR,
	restricted_by_admin BOOLEAN NOT NULL,
	restricted_by_admin_reason TEXT,
	restricted_by_admin_private_details TEXT,
	country_code VARCHAR,
	risk_scores JSON,
	PRIMARY KEY (id),
	FOREIGN KEY(project_id) REFERENCES projects (id) ON DELETE CASCADE
);

CREATE INDEX ix_users_project_id ON users (project_id);

CREATE INDEX ix_users_project_signed_up ON users (project_id, signed_up_at_millis);

CREATE TABLE teams (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	display_name VARCHAR NOT NULL,
	profile_image_url TEXT,
	client_metadata JSON,
	client_read_only_metadata JSON,
	server_metadata JSON,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(project_id) REFERENCES projects (id) ON DELETE CASCADE
);

CREATE INDEX ix_teams_project_id ON teams (project_id);

CREATE TABLE contact_channels (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	user_id VARCHAR NOT NULL,
	type VARCHAR NOT NULL,
	value VARCHAR NOT NULL,
	is_verified BOOLEAN NOT NULL,
	is_primary BOOLEAN NOT NULL,
	used_for_auth BOOLEAN NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_contact_channels_project_id ON contact_channels (project_id);

CREATE INDEX ix_contact_channels_user_id ON contact_channels (user_id);

CREATE UNIQUE INDEX ux_contact_channels_auth ON contact_channels (project_id, type, value) WHERE used_for_auth = 1;

CREATE TABLE refresh_tokens (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	user_id VARCHAR NOT NULL,
	token VARCHAR NOT NULL,
	created_at_millis INTEGER NOT NULL,
	last_used_at_millis INTEGER NOT NULL,
	expires_at_millis INTEGER,
	is_impersonation BOOLEAN NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE,
	UNIQUE (token)
);

CREATE INDEX ix_refresh_tokens_project_id ON refresh_tokens (project_id);

CREATE INDEX ix_refresh_tokens_user_id ON refresh_tokens (user_id);

CREATE TABLE team_members (
	team_id VARCHAR NOT NULL,
	user_id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	display_name VARCHAR,
	profile_image_url TEXT,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (team_id, user_id),
	FOREIGN KEY(team_id) REFERENCES teams (id) ON DELETE CASCADE,
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_team_members_project_id ON team_members (project_id);

CREATE INDEX ix_team_members_user_id ON team_members (user_id);

CREATE TABLE notification_preferences (
	user_id VARCHAR NOT NULL,
	category_id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	enabled BOOLEAN NOT NULL,
	PRIMARY KEY (user_id, category_id),
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_notification_preferences_project_id ON notification_preferences (project_id);

CREATE TABLE team_permission_grants (
	team_id VARCHAR NOT NULL,
	user_id VARCHAR NOT NULL,
	permission_id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (team_id, user_id, permission_id),
	FOREIGN KEY(team_id) REFERENCES teams (id) ON DELETE CASCADE,
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_team_permission_grants_project_id ON team_permission_grants (project_id);

CREATE INDEX ix_team_permission_grants_user_id ON team_permission_grants (user_id);

CREATE TABLE project_permission_grants (
	user_id VARCHAR NOT NULL,
	permission_id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (user_id, permission_id),
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_project_permission_grants_project_id ON project_permission_grants (project_id);

CREATE TABLE user_team_api_keys (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	type VARCHAR NOT NULL,
	user_id VARCHAR,
	team_id VARCHAR,
	description TEXT NOT NULL,
	is_public BOOLEAN NOT NULL,
	secret VARCHAR NOT NULL,
	created_at_millis INTEGER NOT NULL,
	expires_at_millis INTEGER,
	manually_revoked_at_millis INTEGER,
	PRIMARY KEY (id),
	FOREIGN KEY(project_id) REFERENCES projects (id) ON DELETE CASCADE,
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE,
	FOREIGN KEY(team_id) REFERENCES teams (id) ON DELETE CASCADE,
	UNIQUE (secret)
);

CREATE INDEX ix_user_team_api_keys_project_id ON user_team_api_keys (project_id);

CREATE INDEX ix_user_team_api_keys_team_id ON user_team_api_keys (team_id);

CREATE INDEX ix_user_team_api_keys_user_id ON user_team_api_keys (user_id);

CREATE TABLE oauth_accounts (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	user_id VARCHAR NOT NULL,
	provider_config_id VARCHAR NOT NULL,
	provider_account_id VARCHAR NOT NULL,
	email VARCHAR,
	allow_sign_in BOOLEAN NOT NULL,
	allow_connected_accounts BOOLEAN NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_oauth_accounts_lookup ON oauth_accounts (project_id, provider_config_id, provider_account_id);

CREATE INDEX ix_oauth_accounts_project_id ON oauth_accounts (project_id);

CREATE INDEX ix_oauth_accounts_user_id ON oauth_accounts (user_id);

CREATE TABLE passkey_credentials (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	user_id VARCHAR NOT NULL,
	credential_id VARCHAR NOT NULL,
	public_key TEXT NOT NULL,
	sign_count INTEGER NOT NULL,
	transports JSON,
	device_type VARCHAR,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (user_id),
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_passkey_credentials_credential_id ON passkey_credentials (credential_id);

CREATE INDEX ix_passkey_credentials_project_id ON passkey_credentials (project_id);

CREATE TABLE oauth_provider_tokens (
	id VARCHAR NOT NULL,
	project_id VARCHAR NOT NULL,
	oauth_account_id VARCHAR NOT NULL,
	kind VARCHAR NOT NULL,
	token TEXT NOT NULL,
	scopes JSON NOT NULL,
	expires_at_millis INTEGER,
	is_valid BOOLEAN NOT NULL,
	created_at_millis INTEGER NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(oauth_account_id) REFERENCES oauth_accounts (id) ON DELETE CASCADE
);

CREATE INDEX ix_oauth_provider_tokens_oauth_account_id ON oauth_provider_tokens (oauth_account_id);

CREATE INDEX ix_oauth_provider_tokens_project_id ON oauth_provider_tokens (project_id);
