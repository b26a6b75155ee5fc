// The shapes of the /api/v1 answers the console reads (the OpenAPI document has them all).

export interface Subscriber {
  id: number;
  username: string;
  status: string;
  plan_id: number;
  plan: string;
  expires_at: string | null;
  mac: string | null;
  ipv4: string | null;
  simultaneous_use: number;
  name: string | null;
  phone: string | null;
  email: string | null;
  address: string | null;
  online: boolean;
  fup_until: string | null;
  created_at: string;
  updated_at: string;
}

export interface SubscriberPage {
  items: Subscriber[];
  next: string | null;
}

export interface Session {
  id: number;
  nas_id: number;
  acct_session_id: string;
  username: string;
  subscriber_id: number | null;
  started_at: string;
  last_update_at: string;
  framed_ip: string | null;
  calling_station_id: string | null;
  download_octets: number;
  upload_octets: number;
  session_time_secs: number;
}

export interface SessionList {
  items: Session[];
  next_after_id: number | null;
}

export interface PastSession {
  acct_session_id: string;
  started_at: string;
  stopped_at: string;
  framed_ip: string | null;
  download_octets: number;
  upload_octets: number;
  session_time_secs: number;
  terminate_cause: string | null;
}

export interface HistoryPage {
  items: PastSession[];
  next_before: string | null;
}

/// The NAS's answer to a kick: `ack`, `nak`, `timeout`, `deferred` …, in words too.
export interface KickResult {
  result: string;
  message: string;
}

export interface Dashboard {
  computed_at: string;
  subscribers: { active: number; suspended: number; disabled: number; total: number };
  online: { sessions: number; open_sessions_started_last_hour: number };
  top_users: {
    items: { subscriber_id: number; username: string; total_octets: number }[];
  };
  auth: {
    available: boolean;
    accepts_per_minute: number;
    rejects_per_minute: number;
    radiusd_instances: number;
  };
}

/// A password reset (generated: shown once) or revealed.
export interface PasswordAnswer {
  id: number;
  username: string;
  password: string | null;
}

/// `event: figures` of /events/stream.
export interface LiveFigures {
  computed_at: string;
  subscribers: { active: number; suspended: number; disabled: number; total: number };
  online_sessions: number;
  auth: {
    available: boolean;
    accepts_per_minute: number;
    rejects_per_minute: number;
    radiusd_instances: number;
  };
}

/// `event: sessions` of /events/stream: someone logged in or out.
export interface SessionsChanged {
  online: number;
  newest_id: number;
}

export interface Speeds {
  download_kbps: number;
  upload_kbps: number;
}

export interface Plan {
  id: number;
  name: string;
  download_kbps: number;
  upload_kbps: number;
  burst: {
    download_kbps: number;
    upload_kbps: number;
    threshold_download_kbps: number;
    threshold_upload_kbps: number;
    time_secs: number;
  } | null;
  priority: number | null;
  min: Speeds | null;
  quota_bytes: number | null;
  quota_period: string;
  fup: Speeds | null;
  fup_action: string;
  session_timeout_secs: number | null;
  idle_timeout_secs: number | null;
  interim_interval_secs: number;
  pool: string | null;
  validity_days: number;
  price_cents: number;
  mikrotik_rate_limit: string;
  version: number;
}

/// A job that changes live sessions (`plan.apply`).
export interface Job {
  id: number;
  state: string;
  totals: { sessions: number; ack: number; nak: number; timeout: number; deferred: number; skipped: number; error: number };
  finished_at: string | null;
}

export interface Nas {
  id: number;
  name: string;
  address: string;
  vendor: string;
  coa_port: number;
  require_message_authenticator: boolean;
  tls_identity: string | null;
  tls_own_secret: boolean;
  tls_coa: boolean;
  coa_window: number | null;
  coa_rate: number | null;
  secret_set: boolean;
  version: number;
  coa_health: {
    kept: number;
    oldest_kept_at: string | null;
    unreachable: boolean;
    queued: number;
    in_flight: number;
    ack: number;
    nak: number;
    timeout: number;
  } | null;
}

export interface AdminView {
  id: number;
  username: string;
  role: string;
  totp_enabled: boolean;
  totp_required: boolean;
  allowed_networks: string[];
  disabled: boolean;
  created_at: string;
  last_login_at: string | null;
}

export interface AuditRecord {
  id: number;
  at: string;
  admin_id: number | null;
  admin_username: string;
  client_ip: string | null;
  action: string;
  entity: string;
  entity_id: string | null;
  before: unknown;
  after: unknown;
}

export interface AuditPage {
  items: AuditRecord[];
  next_before_id: number | null;
}

/// `GET /subscribers/{id}/rejects`: radiusd's record of their last Access-Rejects.
export interface RejectList {
  items: {
    at: string;
    username: string;
    nas: string;
    calling_station_id: string | null;
    reason: string;
    reply_message: string;
  }[];
}

/// `GET /dashboard/auth`: Access-Accepts and -Rejects per minute, oldest first.
export interface AuthChart {
  minutes: { start: string; accepts: number; rejects: number }[];
}

/// `GET /dashboard/health`.
export interface BackendHealth {
  checked_at: string;
  checks: { name: string; status: "ok" | "degraded" | "down" | "not_configured"; latency_ms: number | null; detail: string }[];
}

/// `GET /subscribers/{id}/usage`: usage per billing period, newest first.
export interface UsageReport {
  period: string;
  quota_bytes: number | null;
  items: { period_start: string; download_octets: number; upload_octets: number; total_octets: number }[];
}

/// `POST /subscribers/import`.
export interface RowError {
  row: number;
  field: string;
  message: string;
}

export interface ImportJob {
  id: number;
  state: string;
  all_or_nothing: boolean;
  rows: number;
  processed: number;
  created: number;
  refused: number;
  committed: boolean;
  created_by: string;
  created_at: string;
  finished_at: string | null;
}

export interface ImportErrorPage {
  items: RowError[];
  next: number | null;
}
