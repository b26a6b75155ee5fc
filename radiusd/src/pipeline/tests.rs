use super::*;

#[test]
fn a_flood_is_logged_once_a_second() {
    let last = AtomicI64::new(0);
    let logged = (0..10_000)
        .filter(|_| log_allowed_at(&last, 1_800_000_000))
        .count();
    assert_eq!(logged, 1);
    assert!(log_allowed_at(&last, 1_800_000_001));
    assert!(!log_allowed_at(&last, 1_800_000_001));
    // Each limiter on its own.
    assert!(log_allowed_at(&AtomicI64::new(0), 1_800_000_001));
}
