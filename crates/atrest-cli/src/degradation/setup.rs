//! What each provider runs with (fresh keys, a configuration writing with it and reading all),
//! and the in-process cost of its transformer.

use super::*;

/// Fresh keys, and for each provider the configuration writing with it and reading all;
/// `kms_endpoint` is the plugin's when `kms` is one of them.
pub(super) fn setups(providers: &[Provider], kms_endpoint: Option<&str>) -> Result<Vec<Setup>> {
    // Each provider's YAML item, with its key.
    let mut items = Vec::with_capacity(providers.len());
    for &p in providers {
        let item = match p.key_kind() {
            None if p == Provider::Kms => Zeroizing::new(format!(
                "- kms:\n    apiVersion: v2\n    name: {KMS_NAME}\n    endpoint: {}\n",
                kms_endpoint.context("no KMS plugin endpoint for provider kms")?
            )),
            None => Zeroizing::new("- identity: {}\n".to_owned()),
            Some(kind) => {
                let key = keygen::generate(kind, &p.key_name())
                    .with_context(|| format!("generating the {} key", p.name()))?;
                Zeroizing::new(keygen::render_provider(kind, &key))
            }
        };
        items.push((p, item));
    }
    let mut setups = Vec::with_capacity(providers.len());
    for &first in providers {
        let order = std::iter::once(first)
            .chain(providers.iter().copied().filter(|&p| p != first && p != Provider::Identity))
            .chain((first != Provider::Identity).then_some(Provider::Identity));
        let mut config = Zeroizing::new(String::from(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n      - secrets\n    providers:\n",
        ));
        for p in order {
            let (_, item) =
                items.iter().find(|(q, _)| *q == p).expect("every provider has an item");
            for line in item.lines() {
                config.push_str("      ");
                config.push_str(line);
                config.push('\n');
            }
        }
        setups.push(Setup { provider: first, config });
    }
    Ok(setups)
}

/// The Secret data: not secret, just bytes that do not compress (seeded).
pub(super) fn payload(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::stream(seed, "payload");
    (0..size).map(|_| rng.next_u64() as u8).collect()
}

/// Mean cost of the provider's transformer (the chain the apiserver builds from the same
/// configuration) on a `payload`-sized value.
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct TransformerCost {
    /// Bytes of the plaintext value.
    pub(super) value_bytes: usize,
    /// Mean µs of `to_storage` (encrypt and frame).
    pub(super) to_storage_us: f64,
    /// Mean µs of `from_storage` (find the prefix, decrypt).
    pub(super) from_storage_us: f64,
    /// Timed iterations of each.
    pub(super) iterations: u64,
}

pub(super) fn transformer_cost(setup: &Setup, payload: &[u8]) -> Result<TransformerCost> {
    let name = setup.provider.name();
    let loaded = atrest_config::load::load(
        &config_path(setup.provider),
        Ok(setup.config.as_bytes().to_vec()),
        &LoadOptions::default(),
    )
    .with_context(|| format!("the generated {name} configuration does not load"))?;
    // An in-process plugin (no socket, no latency): after the first write and read, KMS v2
    // costs what its cached DEK costs, which is what this measures.
    let plugin = atrest_kms::LocalKmsPlugin::new().context("generating an in-process KMS key")?;
    let plugins = KmsPlugins::new().with_v2(KMS_NAME, Arc::new(plugin));
    let transformers = ResourceTransformers::new(&loaded.plan, &plugins)
        .with_context(|| format!("building the {name} transformers"))?;
    let t = transformers.for_resource(&GroupResource::parse("secrets"));
    let ctx = ObjectRef::new(Kind::Secret, NAMESPACE, "bench-transformer")
        .etcd_key(atrest_backend::DEFAULT_ETCD_PREFIX);
    let ctx = ctx.as_bytes();
    let stored = t.to_storage(payload, ctx).with_context(|| format!("{name} to_storage"))?;
    let (back, _) = t.from_storage(&stored, ctx).with_context(|| format!("{name} from_storage"))?;
    if back != payload {
        bail!("{name} did not read back what it wrote");
    }
    let (to_s, n1) = time_per_op(|| t.to_storage(black_box(payload), ctx).map(black_box).is_ok());
    let (from_s, n2) =
        time_per_op(|| t.from_storage(black_box(&stored), ctx).map(black_box).is_ok());
    Ok(TransformerCost {
        value_bytes: payload.len(),
        to_storage_us: to_s * 1e6,
        from_storage_us: from_s * 1e6,
        iterations: n1.min(n2),
    })
}

/// Mean seconds per call of `op` over [`TRANSFORMER_BUDGET`], after a warm-up.
pub(super) fn time_per_op(mut op: impl FnMut() -> bool) -> (f64, u64) {
    let warm = Instant::now();
    while warm.elapsed() < TRANSFORMER_BUDGET / 4 {
        black_box(op());
    }
    let (mut n, start) = (0u64, Instant::now());
    while start.elapsed() < TRANSFORMER_BUDGET {
        for _ in 0..16 {
            black_box(op());
        }
        n += 16;
    }
    (start.elapsed().as_secs_f64() / n as f64, n)
}
