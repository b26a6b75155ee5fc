//! The one configuration loader: file, environment and credentials over the defaults.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use figment::providers::{Format as _, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserializer;
use serde::de::{DeserializeOwned, Visitor};

use crate::{Credential, Error, env};

/// Where one start-up's configuration comes from. `Debug` shows the variables' names,
/// not their values (a `PROISP_DATABASE_URL` may hold a password).
#[derive(Clone, Default)]
pub struct Sources {
    /// The TOML file given with `--config`.
    pub file: Option<PathBuf>,
    /// The environment, name and value; only `PROISP_*` variables are read.
    pub env: Vec<(String, String)>,
    /// `$CREDENTIALS_DIRECTORY`, set by systemd when the unit passes credentials.
    pub credentials: Option<PathBuf>,
}

impl Sources {
    /// This process's: `file`, its environment and its credentials directory.
    pub fn from_process(file: Option<&Path>) -> Sources {
        Sources {
            file: file.map(Path::to_owned),
            env: std::env::vars_os()
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.to_string_lossy().into_owned(),
                    )
                })
                .collect(),
            credentials: std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
        }
    }

    /// `path` as the config file.
    pub fn with_file(self, path: impl Into<PathBuf>) -> Sources {
        Sources {
            file: Some(path.into()),
            ..self
        }
    }

    /// `vars` added to the environment.
    pub fn with_env(mut self, vars: &[(&str, &str)]) -> Sources {
        self.env.extend(
            vars.iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        self
    }

    /// `dir` as `$CREDENTIALS_DIRECTORY`.
    pub fn with_credentials(self, dir: impl Into<PathBuf>) -> Sources {
        Sources {
            credentials: Some(dir.into()),
            ..self
        }
    }
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sources")
            .field("file", &self.file)
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// The layers of one configuration, ready to be extracted into the binary's config
/// struct `C`. `Debug` shows no values: credentials are among them.
pub struct Layers<C> {
    figment: Figment,
    config: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for Layers<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layers").finish_non_exhaustive()
    }
}

impl<C: DeserializeOwned> Layers<C> {
    /// Stacks `sources`: the file, the environment over it, the `credentials` `C` reads
    /// under both (they fill only what neither set). Only the `PROISP_*` variables naming
    /// one of `C`'s top-level keys are read: the others are another program's. Fails on a
    /// missing file or an unreadable credential; values are checked by
    /// [`Layers::extract`].
    pub fn new(credentials: &[Credential], sources: &Sources) -> Result<Layers<C>, Error> {
        let sections = fields::<C>();
        let mut figment = Figment::new();
        if let Some(path) = &sources.file {
            if !path.is_file() {
                return Err(Error::NoFile { path: path.clone() });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        for (name, value) in &sources.env {
            if let Some(key) = env::key(name, sections) {
                let origin = Metadata::named(format!("environment variable {name}"));
                // Parsed as figment's Env parses: numbers, booleans and arrays (`["::1/128"]`)
                // become what they look like, anything else a string.
                let value = value.parse::<Value>().unwrap_or_else(|e| match e {});
                figment = figment.merge(Leaf::new(origin, &key, value));
            }
        }
        if let Some(dir) = &sources.credentials {
            for credential in credentials {
                if let Some(value) = credential.read(dir)? {
                    let origin = Metadata::from(
                        format!("systemd credential {}", credential.name),
                        dir.join(credential.name).display().to_string(),
                    );
                    figment = figment.join(Leaf::new(origin, credential.key, value));
                }
            }
        }
        Ok(Layers {
            figment,
            config: PhantomData,
        })
    }

    /// The binary's config struct; an error names the key and the layer it came from.
    pub fn extract(&self) -> Result<C, Error> {
        Ok(self.figment.extract()?)
    }

    /// A value that parsed but does not fit with others: names `key` and the layer that
    /// set it (`default` when none did).
    pub fn inconsistent(&self, key: &str, reason: impl Into<String>) -> Error {
        let origin = match self.figment.find_metadata(key) {
            Some(Metadata {
                name,
                source: Some(source),
                ..
            }) => format!("{name} {source}"),
            Some(md) => md.name.to_string(),
            None => "default".to_owned(),
        };
        Error::Inconsistent {
            key: key.to_owned(),
            origin,
            reason: reason.into(),
        }
    }
}

/// The top-level keys of the struct `C`, as serde's derive names them to a deserializer
/// (`deserialize_struct`'s `fields`): the list cannot drift from the struct. Empty for a
/// type that is not a plain struct.
fn fields<C: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The deserializer only records what it is asked for: the error is expected.
    let _ = C::deserialize(Fields(&mut fields));
    fields
}

/// A deserializer that answers nothing and records the fields of the struct asked for.
struct Fields<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for Fields<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// One value at one key path, from one variable or credential, so an error about it names
/// exactly that variable or credential.
struct Leaf {
    metadata: Metadata,
    dict: Dict,
}

impl Leaf {
    fn new(metadata: Metadata, key: &str, value: Value) -> Leaf {
        let dict = figment::util::nest(key, value)
            .into_dict()
            .unwrap_or_default();
        Leaf {
            // Keys are reported as the config file spells them (`database.pool_size`),
            // without figment's profile.
            metadata: metadata.interpolater(|_: &Profile, keys: &[&str]| keys.join(".")),
            dict,
        }
    }
}

impl Provider for Leaf {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::Deserialize;

    use super::*;
    use crate::credential::{self, Takes};

    /// A binary's config in miniature.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        database: crate::StoreConfig,
        #[serde(default)]
        redis: Option<crate::RedisConfig>,
        key_file: Option<PathBuf>,
        #[serde(default)]
        tokens: Tokens,
        #[serde(default)]
        log: crate::LogConfig,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Tokens {
        #[serde(default)]
        jwt_key_file: Option<PathBuf>,
        #[serde(default)]
        workers: u32,
    }

    const CREDENTIALS: &[Credential] = &[
        credential::SECRET_KEY,
        credential::DATABASE_URL,
        credential::REDIS_URL,
        Credential {
            name: "jwt.key",
            key: "tokens.jwt_key_file",
            takes: Takes::Path,
        },
    ];

    /// A directory of its own for one test (tests run in parallel).
    fn dir(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("proisp-bootstrap-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Sources with `text` as the config file in `dir`.
    fn file(dir: &Path, text: &str) -> Sources {
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        Sources::default().with_file(path)
    }

    /// `dir`'s `credentials` directory, holding `files` (name, content).
    fn credentials(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
        let creds = dir.join("credentials");
        std::fs::create_dir_all(&creds).unwrap();
        for (name, content) in files {
            std::fs::write(creds.join(name), content).unwrap();
        }
        creds
    }

    fn load(sources: &Sources) -> Result<Config, Error> {
        Layers::new(CREDENTIALS, sources)?.extract()
    }

    #[test]
    fn debug_shows_no_values() {
        let sources = Sources::default().with_env(&[("PROISP_DATABASE_URL", "postgres://u:pw@db")]);
        let shown = format!("{sources:?}");
        assert!(
            shown.contains("PROISP_DATABASE_URL") && !shown.contains("pw"),
            "{shown}"
        );
        let layers = Layers::<Config>::new(CREDENTIALS, &sources).unwrap();
        let shown = format!("{layers:?}");
        assert!(!shown.contains("pw"), "{shown}");
        assert_eq!(
            load(&sources).unwrap().database.database_url,
            "postgres://u:pw@db"
        );
    }

    #[test]
    fn the_sections_are_the_structs_fields() {
        assert_eq!(
            fields::<Config>(),
            ["database", "redis", "key_file", "tokens", "log"]
        );
        assert_eq!(fields::<Tokens>(), ["jwt_key_file", "workers"]);
        assert!(fields::<String>().is_empty());
        assert!(fields::<Vec<Config>>().is_empty());
    }

    #[test]
    fn the_environment_overrides_the_file_and_defaults_fill_the_rest() {
        let dir = dir("layers");
        let sources = file(
            &dir,
            "[database]\nurl = \"postgres://file\"\npool_size = 4\n[log]\nlevel = \"warn\"\n",
        )
        .with_env(&[
            ("PROISP_DATABASE__POOL_SIZE", "32"),
            ("PROISP_REDIS_URL", "redis://env:6380"),
            ("PROISP_LOG__FORMAT", "json"),
            ("PROISP_LISTEN__AUTH", "not ours"),
            ("PROISP_CONFIG", "/etc/proisp/x.toml"),
            ("HOME", "/root"),
        ]);
        let config = load(&sources).unwrap();
        assert_eq!(config.database.database_url, "postgres://file");
        assert_eq!(config.database.pool_size, 32);
        assert_eq!(config.database.statement_timeout, Duration::from_secs(5));
        let redis = config.redis.unwrap();
        assert_eq!(redis.url, "redis://env:6380");
        assert_eq!(redis.key_prefix, "proisp:");
        assert_eq!(config.log.level, "warn");
        assert_eq!(config.log.format, crate::LogFormat::Json);
        assert_eq!(config.key_file, None);
    }

    #[test]
    fn credentials_fill_what_is_unset() {
        let dir = dir("credentials");
        let creds = credentials(
            &dir,
            &[
                ("secret.key", "00"),
                ("jwt.key", "00"),
                ("database.url", "postgres://u:pw@db/proisp\n"),
                ("redis.url", " redis://:pw@cache:6379 \n"),
                ("unrelated", "x"),
            ],
        );
        let sources = file(&dir, "[tokens]\nworkers = 2\n").with_credentials(&creds);
        let config = load(&sources).unwrap();
        assert_eq!(config.key_file.unwrap(), creds.join("secret.key"));
        assert_eq!(config.tokens.jwt_key_file.unwrap(), creds.join("jwt.key"));
        assert_eq!(config.tokens.workers, 2);
        assert_eq!(config.database.database_url, "postgres://u:pw@db/proisp");
        assert_eq!(config.redis.unwrap().url, "redis://:pw@cache:6379");

        // What the file or the environment sets on purpose wins.
        let sources = file(
            &dir,
            "key_file = \"/etc/proisp/secret.key\"\n[database]\nurl = \"postgres://file\"\n",
        )
        .with_env(&[("PROISP_TOKENS__JWT_KEY_FILE", "/run/jwt.key")])
        .with_credentials(&creds);
        let config = load(&sources).unwrap();
        assert_eq!(
            config.key_file.unwrap(),
            Path::new("/etc/proisp/secret.key")
        );
        assert_eq!(
            config.tokens.jwt_key_file.unwrap(),
            Path::new("/run/jwt.key")
        );
        assert_eq!(config.database.database_url, "postgres://file");
        assert_eq!(config.redis.unwrap().url, "redis://:pw@cache:6379");
    }

    #[test]
    fn absent_credentials_are_not_an_error_but_unreadable_ones_are() {
        let dir = dir("absent");
        let sources = file(&dir, "[database]\nurl = \"postgres://file\"\n");
        let config = load(&sources.clone().with_credentials(dir.join("empty"))).unwrap();
        assert_eq!(config.key_file, None);
        assert!(config.redis.is_none());

        std::fs::create_dir_all(dir.join("odd").join("database.url")).unwrap();
        let err = load(&sources.with_credentials(dir.join("odd")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("credential database.url"), "{err}");
    }

    #[test]
    fn a_bad_value_names_the_key_and_its_source() {
        let dir = dir("bad");
        let err = load(&file(
            &dir,
            "[database]\nurl = \"x\"\nconnect_timeout = \"soon\"\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("connect_timeout"), "{err}");
        assert!(err.contains("config.toml"), "{err}");

        let err = load(
            &file(&dir, "[database]\nurl = \"x\"\n")
                .with_env(&[("PROISP_DATABASE__POOL_SIZE", "many")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("\"database.pool_size\""), "{err}");
        assert!(
            err.contains("environment variable PROISP_DATABASE__POOL_SIZE"),
            "{err}"
        );

        let creds = credentials(&dir, &[("redis.url", "")]);
        let err = load(
            &file(&dir, "[database]\nurl = \"x\"\n[redis]\nttl = 5\n").with_credentials(creds),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("redis.ttl"), "{err}");

        let err = load(&file(&dir, "[database]\nurl = \"x\"\npool_sise = 3\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("pool_sise"), "{err}");

        let err = load(&Sources::default()).unwrap_err().to_string();
        assert!(err.contains("database"), "{err}");

        let err = load(&Sources::default().with_file(dir.join("missing.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing.toml") && err.contains("does not exist"),
            "{err}"
        );
    }

    #[test]
    fn an_inconsistency_names_where_the_key_was_set() {
        let dir = dir("inconsistent");
        let creds = credentials(&dir, &[("secret.key", "00")]);
        let sources = file(&dir, "[database]\nurl = \"x\"\n")
            .with_env(&[("PROISP_LOG__LEVEL", "debug")])
            .with_credentials(creds);
        let layers = Layers::<Config>::new(CREDENTIALS, &sources).unwrap();
        let err = layers.inconsistent("database.url", "too short").to_string();
        assert!(
            err.starts_with("too short (database.url: TOML file"),
            "{err}"
        );
        assert!(err.contains("config.toml"), "{err}");
        let err = layers.inconsistent("log.level", "too loud").to_string();
        assert_eq!(
            err,
            "too loud (log.level: environment variable PROISP_LOG__LEVEL)"
        );
        let err = layers.inconsistent("key_file", "odd").to_string();
        assert!(err.contains("systemd credential secret.key"), "{err}");
        let err = layers.inconsistent("log.format", "plain").to_string();
        assert_eq!(err, "plain (log.format: default)");
    }
}
