//! Local key pairs, PKCS#10 CSRs, and the files that hold them, for certcentral.
//!
//! - [`keys`]: key pairs (RSA 2048/3072/4096, ECDSA P-256/P-384) made on this machine, CSRs
//!   signed with them, and the check that a certificate belongs to a key.
//! - [`files`]: output file names, exclusive creation, mode 0600 for secrets, refusal to
//!   overwrite, atomic replacement of records.
//!
//! Both `certcentral order` and the roster engine (`certcentral-bulk`) write keys through this
//! crate, so every private key on disk is made the same way.
//!
//! ```
//! use certcentral_keys::{files, keys};
//!
//! let emails = vec!["locke.cole@example.com".to_string()];
//! let made = keys::generate(keys::KeyType::P256, "Locke Cole", &emails).unwrap();
//! assert!(made.csr_pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
//! assert_eq!(files::derive_name("Locke Cole").as_deref(), Some("locke-cole"));
//! ```

#![deny(missing_docs)]

pub mod files;
pub mod keys;
