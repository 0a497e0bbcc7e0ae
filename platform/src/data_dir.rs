//! The data directory (`./.platform` unless `--data-dir` says otherwise): the SQLite database every
//! service shares, the key-encryption key that seals the id_token signing keys, the demo
//! credentials, the gateway's generated routes, and the lock that keeps a second copy off it.
//!
//! Every file is written whole or not at all (a temporary file, flushed, then renamed), and the
//! secrets are readable by their owner only.

use std::fs::{File, TryLockError};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::RunQueryDsl;
use diesel::sql_types::Text;
use secrecy::SecretString;

use crate::error::StartError;

const LOCK_FILE: &str = "platform.lock";
const DATABASE_FILE: &str = "platform.db";
const KEY_ENCRYPTION_KEY_FILE: &str = "key-encryption.key";
const ROUTES_FILE: &str = "routes.toml";
const IDENTITY_KEY_FILE: &str = "gateway-identity.pem";
pub const CREDENTIALS_FILE: &str = "demo-credentials.json";

/// An open data directory, locked for this process until it is dropped.
pub struct DataDir {
    path: PathBuf,
    /// Held for its lock: the operating system releases it with the process, however it ends.
    _lock: File,
}

impl DataDir {
    /// Creates the directory if needed and takes its lock.
    pub fn open(path: &Path) -> Result<DataDir, StartError> {
        // Its owner's only: the database holds addresses and password hashes. (An existing directory
        // keeps the permissions it has.)
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|error| {
                StartError::new(format!(
                    "cannot create the data directory {} ({error}): choose another with --data-dir",
                    path.display()
                ))
            })?;
        let lock_path = path.join(LOCK_FILE);
        let mut lock = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|error| unwritable(path, &error))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                let holder = holder.trim();
                let pid = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                };
                return Err(StartError::new(format!(
                    "another platform is already running on the data directory {}{pid}: stop it first, \
                     or start this one with another --data-dir",
                    path.display()
                )));
            }
            Err(TryLockError::Error(error)) => return Err(unwritable(path, &error)),
        }
        // Who holds it, for the message above; writing also proves the directory is writable.
        lock.set_len(0)
            .and_then(|()| lock.write_all(std::process::id().to_string().as_bytes()))
            .and_then(|()| lock.sync_all())
            .map_err(|error| unwritable(path, &error))?;
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `sqlite://<dir>/platform.db`.
    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.path.join(DATABASE_FILE).display())
    }

    /// Refuses a database file that SQLite cannot use, before any service touches it.
    pub fn check_database(&self) -> Result<(), StartError> {
        let file = self.path.join(DATABASE_FILE);
        if !file.exists() {
            return Ok(());
        }
        let unusable = |reason: String| {
            StartError::new(format!(
                "{} is not a usable SQLite database ({reason}): move it away to start afresh, \
                    or restore a backup",
                file.display()
            ))
        };
        let session = shared::db::SessionSettings {
            statement_timeout_ms: 5_000,
        };
        let mut conn = shared::db::connect(&self.database_url(), &session)
            .map_err(|error| unusable(error.to_string()))?;
        #[derive(diesel::QueryableByName)]
        struct Check {
            #[diesel(sql_type = Text)]
            quick_check: String,
        }
        let checks: Vec<Check> = diesel::sql_query("PRAGMA quick_check")
            .load(&mut conn)
            .map_err(|error| unusable(error.to_string()))?;
        match checks.first() {
            Some(check) if check.quick_check == "ok" => Ok(()),
            Some(check) => Err(unusable(check.quick_check.clone())),
            None => Err(unusable("no answer to an integrity check".to_owned())),
        }
    }

    /// The key that seals the id_token signing keys: generated on first start, then reused (the
    /// keys in the database open with no other).
    pub fn key_encryption_key(&self) -> Result<SecretString, StartError> {
        let file = self.path.join(KEY_ENCRYPTION_KEY_FILE);
        match std::fs::read_to_string(&file) {
            Ok(key) => Ok(SecretString::from(key.trim().to_owned())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if self.path.join(DATABASE_FILE).exists() && has_signing_keys(&self.database_url()) {
                    return Err(StartError::new(format!(
                        "{} is missing, and the signing keys in {} were sealed with it: restore the file, \
                         or move the data directory away to start afresh",
                        file.display(),
                        self.path.join(DATABASE_FILE).display()
                    )));
                }
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|error| {
                    StartError::new(format!("the random number generator failed: {error}"))
                })?;
                let key = STANDARD.encode(bytes);
                self.write_secret(KEY_ENCRYPTION_KEY_FILE, key.as_bytes())?;
                Ok(SecretString::from(key))
            }
            Err(error) => Err(unwritable(&self.path, &error)),
        }
    }

    /// The key the gateway signs the forwarded identity with: generated on first start and kept, so
    /// an upstream's cached copy of the gateway's JWKS stays good across restarts.
    pub fn identity_signing_key(&self) -> Result<PathBuf, StartError> {
        let file = self.path.join(IDENTITY_KEY_FILE);
        if file.exists() {
            return Ok(file);
        }
        let rng = aws_lc_rs::rand::SystemRandom::new();
        // jsonwebtoken reads the 48-byte PKCS#8 v1 form of an Ed25519 key.
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map_err(|_| StartError::new("cannot generate the gateway's identity key"))?;
        let body = STANDARD.encode(pkcs8.as_ref());
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        self.write_secret(IDENTITY_KEY_FILE, pem.as_bytes())?;
        Ok(file)
    }

    /// The gateway's routes, written at every start (the ports may have changed).
    pub fn write_routes(&self, routes: &str) -> Result<PathBuf, StartError> {
        self.write_file(ROUTES_FILE, routes.as_bytes(), 0o644)?;
        Ok(self.path.join(ROUTES_FILE))
    }

    /// Reads a file of the directory; `None` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StartError> {
        match std::fs::read(self.path.join(name)) {
            Ok(content) => Ok(Some(content)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(unwritable(&self.path, &error)),
        }
    }

    /// Writes a file only its owner may read, whole or not at all.
    pub fn write_secret(&self, name: &str, content: &[u8]) -> Result<(), StartError> {
        self.write_file(name, content, 0o600)
    }

    fn write_file(&self, name: &str, content: &[u8], mode: u32) -> Result<(), StartError> {
        let target = self.path.join(name);
        let temporary = self.path.join(format!(".{name}.tmp"));
        let written = File::options()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(mode)
            .open(&temporary)
            .and_then(|mut file| {
                file.write_all(content)?;
                file.sync_all()
            })
            .and_then(|()| std::fs::rename(&temporary, &target));
        written.map_err(|error| unwritable(&self.path, &error))
    }
}

fn unwritable(path: &Path, error: &std::io::Error) -> StartError {
    StartError::new(format!(
        "cannot write to the data directory {} ({error}): fix its permissions or choose another with \
            --data-dir",
        path.display()
    ))
}

/// Whether the database already holds id_token signing keys (which only the key that sealed them
/// opens).
fn has_signing_keys(database_url: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        keys: i64,
    }
    let session = shared::db::SessionSettings {
        statement_timeout_ms: 5_000,
    };
    shared::db::connect(database_url, &session)
        .ok()
        .and_then(|mut conn| {
            diesel::sql_query("SELECT count(*) AS keys FROM signing_keys")
                .get_result::<Count>(&mut conn)
                .ok()
        })
        .is_some_and(|count| count.keys > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_the_same_directory_is_refused_naming_the_holder() {
        let directory = tempfile::tempdir().unwrap();
        let first = DataDir::open(directory.path()).unwrap();

        let second = DataDir::open(directory.path()).err().unwrap().to_string();

        assert!(second.contains("already running"), "{second}");
        assert!(
            second.contains(&format!("pid {}", std::process::id())),
            "{second}"
        );
        drop(first);
        DataDir::open(directory.path()).expect("free again once the first is gone");
    }

    #[test]
    fn the_key_encryption_key_is_made_once_and_kept_private() {
        let directory = tempfile::tempdir().unwrap();
        let data = DataDir::open(directory.path()).unwrap();
        use secrecy::ExposeSecret;

        let first = data.key_encryption_key().unwrap();
        let second = data.key_encryption_key().unwrap();

        assert_eq!(first.expose_secret(), second.expose_secret());
        assert_eq!(STANDARD.decode(first.expose_secret()).unwrap().len(), 32);
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&directory.path().join(KEY_ENCRYPTION_KEY_FILE)), 0o600);
    }

    #[test]
    fn a_new_data_directory_is_its_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("data");

        let _data = DataDir::open(&path).unwrap();

        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_with_what_to_do() {
        let directory = tempfile::tempdir().unwrap();
        std::fs::write(directory.path().join(DATABASE_FILE), vec![0x42; 8192]).unwrap();
        let data = DataDir::open(directory.path()).unwrap();

        let refused = data.check_database().unwrap_err().to_string();

        assert!(refused.contains("not a usable SQLite database"), "{refused}");
        assert!(refused.contains("move it away"), "{refused}");
    }
}
