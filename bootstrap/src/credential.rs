//! systemd credentials (`LoadCredential=`, `SetCredentialEncrypted=`): secrets reach the
//! daemon as files in `$CREDENTIALS_DIRECTORY`, readable only by the service, never
//! through the environment (which `/proc/<pid>/environ` and crash reports show) or a
//! config file that must stay readable by its group.
//!
//! A credential fills a config key the file and the environment leave unset. The names
//! both binaries read:
//!
//! | credential | sets | as |
//! |---|---|---|
//! | `secret.key` | `key_file` | the credential's path |
//! | `database.url` | `database.url` | its content (a URL with the password in it) |
//! | `redis.url` | `redis.url` | its content (and so turns `[redis]` on) |
//!
//! adminapi reads `jwt.key` (`tokens.jwt_key_file`) too. A binary passes the credentials it
//! reads to [`Layers::new`](crate::Layers::new).

use std::path::Path;

use figment::value::Value;

use crate::Error;

/// A systemd credential and the config key it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    /// The name in `LoadCredential=<name>:<path>`: the file's name in
    /// `$CREDENTIALS_DIRECTORY`.
    pub name: &'static str,
    /// The key path it fills (`database.url`).
    pub key: &'static str,
    /// Whether the key takes the file's path or its content.
    pub takes: Takes,
}

/// What a credential gives its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// The credential file's path, for keys naming a file (`key_file`): the binary reads
    /// the file itself, the same way as any other key file.
    Path,
    /// The credential's content, surrounding whitespace removed, as a string.
    Content,
}

/// The AES-256-GCM key for secrets at rest.
pub const SECRET_KEY: Credential = Credential {
    name: "secret.key",
    key: "key_file",
    takes: Takes::Path,
};

/// PostgreSQL's URL, password included.
pub const DATABASE_URL: Credential = Credential {
    name: "database.url",
    key: "database.url",
    takes: Takes::Content,
};

/// Redis's URL, password included.
pub const REDIS_URL: Credential = Credential {
    name: "redis.url",
    key: "redis.url",
    takes: Takes::Content,
};

/// RadSec's server private key (radiusd's `radsec.key`): a path, so the key file need not
/// be readable by the service's own (dynamic) user.
pub const RADSEC_KEY: Credential = Credential {
    name: "radsec.key",
    key: "radsec.key",
    takes: Takes::Path,
};

impl Credential {
    /// The value this credential gives its key when `dir` (`$CREDENTIALS_DIRECTORY`) holds
    /// it; `None` when it does not.
    pub(crate) fn read(&self, dir: &Path) -> Result<Option<Value>, Error> {
        let path = dir.join(self.name);
        match self.takes {
            Takes::Path => Ok(path
                .is_file()
                .then(|| Value::from(path.display().to_string()))),
            Takes::Content => match std::fs::read_to_string(&path) {
                Ok(text) => Ok(Some(Value::from(text.trim().to_owned()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(Error::Credential {
                    name: self.name,
                    path,
                    source,
                }),
            },
        }
    }
}
