//! Key pair + CSR generation per `--key-type`, against the P-256 baseline: what a person
//! waits for before the order is sent.

use certcentral_keys::keys::{KeyType, generate};
use criterion::{Criterion, criterion_group, criterion_main};

fn keygen(c: &mut Criterion) {
    let emails = vec!["locke.cole@example.com".to_string()];
    let mut group = c.benchmark_group("keygen");
    group.sample_size(10);
    for key_type in [
        KeyType::P256,
        KeyType::P384,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
    ] {
        group.bench_function(key_type.as_str(), |b| {
            b.iter(|| generate(key_type, "Locke Cole", &emails).map(|k| k.csr_pem.len()))
        });
    }
    group.finish();
}

criterion_group!(benches, keygen);
criterion_main!(benches);
