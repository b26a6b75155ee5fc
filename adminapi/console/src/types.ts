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
