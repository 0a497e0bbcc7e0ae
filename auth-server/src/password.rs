//! User passwords: argon2id hashes (PHC strings), verified off the async threads. Verifying against
//! an unknown user still runs one argon2 verification, so that the answer takes as long as for a
//! wrong password and does not reveal which usernames exist.

use std::sync::LazyLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};

/// Shortest password accepted when one is set.
pub const MIN_LENGTH: usize = 8;

/// A hash of a random password nobody knows, verified when the user does not exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator is available");
    hash(&SecretString::from(hex::encode(bytes))).expect("hashing a fixed-length password cannot fail")
});

/// Hashes a password with argon2id and a fresh salt.
pub fn hash(password: &SecretString) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| anyhow::anyhow!("failed to hash a password: {error}"))
}

/// Verifies a password against a stored hash, or against the dummy hash when there is no user.
/// Blocking: call it through `verify_off_thread`.
pub fn verify(password: &SecretString, stored_hash: Option<&str>) -> bool {
    let stored = stored_hash.unwrap_or(DUMMY_HASH.as_str());
    let Ok(parsed) = argon2::PasswordHash::new(stored) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok();
    matches && stored_hash.is_some()
}

/// [`verify`] on the blocking thread pool (argon2 takes tens of milliseconds of CPU).
pub async fn verify_off_thread(password: SecretString, stored_hash: Option<String>) -> bool {
    // Each verification takes ~19 MiB and a core for tens of milliseconds; without a bound, a burst
    // of sign-ins would run hundreds at once on the blocking pool and exhaust memory.
    let Ok(_turn) = VERIFICATIONS.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || verify(&password, stored_hash.as_deref()))
        .await
        .unwrap_or(false)
}

/// [`hash`] on the blocking thread pool, taking turns with verifications.
pub async fn hash_off_thread(password: SecretString) -> anyhow::Result<String> {
    let _turn = VERIFICATIONS.acquire().await?;
    metrics::counter!("auth_password_hashes_total").increment(1);
    tokio::task::spawn_blocking(move || hash(&password)).await?
}

/// [`hash`] for a request nobody has authenticated yet (registration), or `None` when the budget of
/// such hashes is spent: they take a turn without waiting and never more than half the cores, so a
/// flood of strangers can neither queue ahead of sign-ins nor take all the CPU from them.
pub async fn hash_for_stranger(password: SecretString) -> anyhow::Result<Option<String>> {
    let Ok(_turn) = STRANGER_HASHES.try_acquire() else {
        metrics::counter!("auth_password_hashes_refused_total").increment(1);
        return Ok(None);
    };
    hash_off_thread(password).await.map(Some)
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|cores| cores.get())
        .unwrap_or(2)
}

/// Hashes for strangers running at once: half the cores, at least one.
static STRANGER_HASHES: LazyLock<tokio::sync::Semaphore> =
    LazyLock::new(|| tokio::sync::Semaphore::new((cores() / 2).max(1)));

/// Password verifications (and hashes) running at once: twice the cores.
static VERIFICATIONS: LazyLock<tokio::sync::Semaphore> =
    LazyLock::new(|| tokio::sync::Semaphore::new(cores() * 2));

/// Checks a new password against the policy, naming what is wrong.
pub fn check_policy(password: &SecretString) -> Result<(), String> {
    let length = password.expose_secret().chars().count();
    if length < MIN_LENGTH {
        return Err(format!(
            "the password must be at least {MIN_LENGTH} characters long"
        ));
    }
    if length > 1024 {
        return Err("the password must be at most 1024 characters long".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash(&SecretString::from("correct horse")).unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify(&SecretString::from("correct horse"), Some(&stored)));
        assert!(!verify(&SecretString::from("wrong horse"), Some(&stored)));
    }

    #[tokio::test]
    async fn a_stranger_waits_for_no_hash_once_the_strangers_budget_is_spent() {
        let budget = STRANGER_HASHES.available_permits() as u32;
        let held = STRANGER_HASHES.try_acquire_many(budget).unwrap();
        let refused = hash_for_stranger(SecretString::from("long enough"))
            .await
            .unwrap();
        assert_eq!(refused, None, "refused at once, without queueing");
        drop(held);
        let hashed = hash_for_stranger(SecretString::from("long enough"))
            .await
            .unwrap();
        assert!(hashed.unwrap().starts_with("$argon2id$"));
    }

    #[test]
    fn no_password_verifies_without_a_user() {
        assert!(!verify(&SecretString::from("anything"), None));
    }
}
