//! The shipped unit file passes `systemd-analyze verify`.

use std::process::Command;

#[test]
fn the_systemd_unit_verifies() {
    let built = env!("CARGO_BIN_EXE_proisp-radiusd");
    let verified = proisp_testing::verify_units(
        &["proisp-radiusd.service"],
        &[("/usr/bin/proisp-radiusd", built)],
    );
    assert_eq!(verified, Ok(()));
}

/// `--check-config` on the shipped example, the key given as the unit gives it (a
/// credential) and the example's CA files replaced by a real one: valid. Then what it
/// must name: the example's own CA path, which does not exist here, and a damaged key.
#[test]
fn check_config_reads_the_example_and_its_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = root.join("systemd/radiusd.toml.example");
    let dir = std::env::temp_dir().join(format!("check-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = proisp_testing::Pki::generate(&dir, "nas.check.test").unwrap();
    let ca = pki.ca.to_str().unwrap().to_owned();
    let check = |key: &str, env: &[(&str, &str)]| {
        std::fs::write(dir.join("secret.key"), key).unwrap();
        Command::new(env!("CARGO_BIN_EXE_proisp-radiusd"))
            .env_clear()
            .env("CREDENTIALS_DIRECTORY", &dir)
            .envs(env.iter().copied())
            .arg("--config")
            .arg(&example)
            .arg("--check-config")
            .output()
            .unwrap()
    };
    let key = format!("{}\n", "ab".repeat(32));
    let cas = [
        ("PROISP_DATABASE__SSLROOTCERT", ca.as_str()),
        ("PROISP_REDIS__TLS_CA", ca.as_str()),
    ];
    let good = check(&key, &cas);
    let as_shipped = check(&key, &[]);
    let damaged = check("not a key\n", &cas);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    for (out, names) in [
        (as_shipped, "sslrootcert: /etc/proisp/postgres-ca.pem"),
        (damaged, "key_file"),
    ] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(names), "{names} not in: {stderr}");
    }
}
