//! `systemd-analyze verify` on the shipped units, with their binaries pointed at the ones
//! the test just built (verify wants what ExecStart runs to exist).

use std::path::Path;
use std::process::Command;

/// Verifies the units `names` of systemd/ (a timer with its service) after replacing
/// each `(installed, built)` path in them; Err holds what verify said of them.
pub fn verify_units(names: &[&str], binaries: &[(&str, &str)]) -> Result<(), String> {
    let systemd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd");
    let dir = std::env::temp_dir().join(format!(
        "proisp-unit-verify-{}-{}",
        std::process::id(),
        crate::random_hex(4)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut copies = Vec::new();
    for name in names {
        let mut text = std::fs::read_to_string(systemd.join(name))
            .map_err(|e| format!("systemd/{name}: {e}"))?;
        for (installed, built) in binaries {
            text = text.replace(installed, built);
        }
        let copy = dir.join(name);
        std::fs::write(&copy, text).map_err(|e| e.to_string())?;
        copies.push(copy);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&copies)
        .output()
        .map_err(|e| format!("systemd-analyze (Debian's systemd package): {e}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ours = stderr.lines().any(|l| l.contains("proisp"));
    if out.status.success() && !ours {
        Ok(())
    } else {
        Err(stderr.into_owned())
    }
}
