//! `atrest decrypt` and `atrest encrypt`: one etcd value through the transformer kube-apiserver
//! would use for the resource the etcd key names.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use atrest_config::resolve::{GroupResource, group_resource_for_etcd_key};
use atrest_transformers::{
    Base64Plugin, KmsPlugins, KmsV1Plugin, KmsV2Plugin, PluginError, ResourceTransformers,
};
use clap::ValueEnum;

use crate::Outcome;
use crate::input::{self, InputFormat};

/// Arguments shared by `decrypt` and `encrypt`.
#[derive(clap::Args, Debug)]
pub(crate) struct CommonArgs {
    /// The EncryptionConfiguration kube-apiserver runs with.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The full etcd key, e.g. `/registry/secrets/default/mysecret`. It selects the resource's
    /// providers and is the authenticated data of aesgcm and KMS. Optional for `decrypt` when
    /// the input is `etcdctl get -w json` output, which carries the key.
    #[arg(long, value_name = "KEY")]
    etcd_key: Option<String>,
    /// kube-apiserver's `--etcd-prefix`.
    #[arg(long, value_name = "PREFIX", default_value = "/registry")]
    etcd_prefix: String,
    /// Where to read the value from (`-` for standard input).
    #[arg(long = "in", value_name = "FILE", default_value = "-")]
    input: PathBuf,
    /// The KMS plugin of the KMS provider NAME: `NAME=unix:///path/to/socket` calls a running
    /// KMS v2 plugin (such as `atrest kms-plugin serve`) with the provider's timeout;
    /// `NAME=base64-mock` uses upstream's Base64 test plugin (ciphertext = base64 of plaintext,
    /// key ID "1"). Repeatable.
    #[arg(long, value_name = "NAME=unix:///PATH|NAME=base64-mock")]
    kms_plugin: Vec<String>,
    /// Enable the deprecated KMSv1 feature gate (`--feature-gates=KMSv1=true`).
    #[arg(long)]
    kmsv1: bool,
}

/// `atrest decrypt`.
#[derive(clap::Args, Debug)]
pub(crate) struct DecryptArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// How to read `--in`.
    #[arg(long, value_enum, default_value_t)]
    input_format: InputFormat,
    /// `raw`: the exact plaintext bytes; `json`/`yaml`: the decoded object.
    #[arg(long, value_enum, default_value_t)]
    output: DecryptOutput,
}

/// `atrest encrypt`.
#[derive(clap::Args, Debug)]
pub(crate) struct EncryptArgs {
    #[command(flatten)]
    common: CommonArgs,
}

/// `decrypt --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum DecryptOutput {
    /// The exact plaintext bytes as stored before encryption.
    #[default]
    Raw,
    /// The decoded object as JSON (what `kubectl get -o json` shows).
    Json,
    /// The decoded object as YAML.
    Yaml,
}

/// A loaded configuration ready to transform values.
struct Loaded {
    transformers: ResourceTransformers,
    /// KMS providers served by [`Unreachable`] (no plugin atrest can call).
    unreachable_kms: Vec<String>,
}

impl Loaded {
    /// Explains failures that come from KMS plugins: providers without one, and the health
    /// check errors of those atrest calls (a failed one leaves the provider without a DEK).
    fn kms_note(&self) {
        if !self.unreachable_kms.is_empty() {
            eprintln!("note: {}", unreachable_note(&self.unreachable_kms));
        }
        for (name, err) in kms_probe_errors(&self.transformers, &self.unreachable_kms) {
            eprintln!("note: KMS provider {name:?}: {err}");
        }
    }
}

/// Why KMS providers without `--kms-plugin` fail, and how to give them one.
pub(crate) fn unreachable_note(names: &[String]) -> String {
    format!(
        "no --kms-plugin was given for KMS providers {names:?}, so they had no plugin \
         (kube-apiserver answers the same way while its plugin is down); \
         --kms-plugin NAME=unix:///path/to/socket calls a running KMS v2 plugin, \
         NAME=base64-mock upstream's test plugin"
    )
}

/// The health check (Status) errors of the KMS v2 providers, once per provider, except those
/// in `without_plugin` (explained by [`unreachable_note`]).
pub(crate) fn kms_probe_errors(
    transformers: &ResourceTransformers,
    without_plugin: &[String],
) -> Vec<(String, atrest_transformers::KmsV2ProbeError)> {
    let mut errors: Vec<(String, atrest_transformers::KmsV2ProbeError)> = Vec::new();
    for (_, chain) in transformers.chains() {
        for (name, err) in chain.probe_kms() {
            if !without_plugin.contains(&name) && !errors.iter().any(|(seen, _)| *seen == name) {
                errors.push((name, err));
            }
        }
    }
    errors
}

/// Loads the config as kube-apiserver would; `None` when it would refuse to start (the reason is
/// printed: upstream's text first, as for any other failure).
fn load(common: &CommonArgs) -> Result<Option<Loaded>> {
    let path = common.config.to_string_lossy().into_owned();
    let read = crate::input::read_config(&common.config);
    let options = atrest_config::load::LoadOptions { reload: false, kmsv1_enabled: common.kmsv1 };
    let loaded = match atrest_config::load::load(&path, read, &options) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("{err}");
            if err.upstream_prints_key_material() {
                eprintln!("note: {}", crate::check_config::KEY_EXPOSED_NOTE);
            }
            eprintln!(
                "note: kube-apiserver would exit with this error at start-up, so it never reads \
                 or writes a value with {path}; `atrest check-config {path}` explains it"
            );
            return Ok(None);
        }
    };
    let (kms, unreachable_kms) = kms_plugins(&loaded.config, &common.kms_plugin, common.kmsv1)?;
    let transformers = ResourceTransformers::new(&loaded.plan, &kms)
        .with_context(|| format!("building transformers for {path}"))?;
    Ok(Some(Loaded { transformers, unreachable_kms }))
}

/// What `--kms-plugin NAME=…` asks for.
enum Requested {
    /// `base64-mock`.
    Mock,
    /// `unix:///path`: a running KMS v2 plugin.
    Endpoint(String),
}

/// Registers a plugin for every KMS provider: a gRPC client of the running plugin or the
/// Base64 mock where asked, otherwise one that explains that no plugin was given.
pub(crate) fn kms_plugins(
    cfg: &atrest_config::EncryptionConfiguration,
    requested: &[String],
    kmsv1: bool,
) -> Result<(KmsPlugins, Vec<String>)> {
    let mut asked: Vec<(String, Requested)> = Vec::new();
    for spec in requested {
        let request = match spec.split_once('=') {
            Some((name, "base64-mock")) => (name, Requested::Mock),
            Some((name, endpoint)) if endpoint.starts_with("unix:") => {
                (name, Requested::Endpoint(endpoint.to_owned()))
            }
            _ => bail!(
                "--kms-plugin {spec:?}: expected NAME=unix:///path/to/socket or NAME=base64-mock"
            ),
        };
        asked.push((request.0.to_owned(), request.1));
    }
    let mut plugins = KmsPlugins::new().with_kms_v1_gate(kmsv1);
    let mut known = Vec::new();
    let mut unreachable = Vec::new();
    for entry in &cfg.resources {
        for provider in &entry.providers {
            let Some(kms) = &provider.kms else { continue };
            known.push(kms.name.clone());
            let request = asked.iter().find(|(name, _)| *name == kms.name).map(|(_, r)| r);
            if request.is_none() {
                unreachable.push(kms.name.clone());
            }
            plugins = if kms.api_version == "v1" {
                let plugin: Arc<dyn KmsV1Plugin> = match request {
                    Some(Requested::Mock) => Arc::new(Base64Plugin::new()),
                    Some(Requested::Endpoint(_)) => bail!(
                        "--kms-plugin {}: it is a KMS v1 provider; atrest calls KMS v2 plugins \
                         only (NAME=base64-mock serves v1)",
                        kms.name
                    ),
                    None => Arc::new(Unreachable),
                };
                plugins.with_v1(kms.name.clone(), plugin)
            } else {
                let plugin: Arc<dyn KmsV2Plugin> = match request {
                    Some(Requested::Mock) => Arc::new(Base64Plugin::new()),
                    Some(Requested::Endpoint(endpoint)) => {
                        // The provider's own timeout, defaulted to 3s as upstream does.
                        let timeout = kms
                            .timeout
                            .as_ref()
                            .and_then(|t| u64::try_from(t.nanos).ok())
                            .map_or(atrest_kms::DEFAULT_CALL_TIMEOUT, Duration::from_nanos);
                        let options = atrest_kms::ClientOptions::new().with_timeout(timeout);
                        Arc::new(
                            atrest_kms::KmsV2Client::connect_with(endpoint, options)
                                .with_context(|| format!("--kms-plugin {}={endpoint}", kms.name))?,
                        )
                    }
                    None => Arc::new(Unreachable),
                };
                plugins.with_v2(kms.name.clone(), plugin)
            };
        }
    }
    if let Some((unknown, _)) = asked.iter().find(|(m, _)| !known.contains(m)) {
        bail!("--kms-plugin {unknown}: the config has no KMS provider named {unknown:?}");
    }
    Ok((plugins, unreachable))
}

/// The plugin of a KMS provider that `--kms-plugin` did not name.
#[derive(Debug)]
struct Unreachable;

impl Unreachable {
    fn error() -> PluginError {
        PluginError::status(
            atrest_transformers::GrpcCode::Unavailable,
            "no KMS plugin was given to atrest for this provider; --kms-plugin NAME=unix:///path/to/socket calls a running one",
        )
    }
}

impl KmsV1Plugin for Unreachable {
    fn encrypt(&self, _plaintext: &[u8]) -> Result<Vec<u8>, PluginError> {
        Err(Self::error())
    }
    fn decrypt(&self, _ciphertext: &[u8]) -> Result<Vec<u8>, PluginError> {
        Err(Self::error())
    }
}

impl KmsV2Plugin for Unreachable {
    fn status(&self) -> Result<atrest_transformers::StatusResponse, PluginError> {
        Err(Self::error())
    }
    fn encrypt(
        &self,
        _plaintext: &[u8],
    ) -> Result<atrest_transformers::EncryptResponse, PluginError> {
        Err(Self::error())
    }
    fn decrypt(
        &self,
        _request: &atrest_transformers::DecryptRequest<'_>,
    ) -> Result<Vec<u8>, PluginError> {
        Err(Self::error())
    }
}

fn resource_for(key: &str, prefix: &str) -> Result<GroupResource> {
    group_resource_for_etcd_key(key, prefix).with_context(|| {
        format!("etcd key {key:?} does not name a resource under the etcd prefix {prefix:?}")
    })
}

/// `atrest decrypt`.
pub(crate) fn decrypt(args: &DecryptArgs) -> Result<Outcome> {
    let common = &args.common;
    let raw = input::parse(input::read_bytes(Some(&common.input))?, args.input_format)?;
    let key = match (&common.etcd_key, &raw.key) {
        (Some(given), Some(read)) if given != read => {
            bail!("--etcd-key {given:?} differs from the key in the etcdctl output {read:?}")
        }
        (Some(key), _) | (None, Some(key)) => key.clone(),
        (None, None) => {
            bail!("--etcd-key is required unless the input is `etcdctl get -w json` output")
        }
    };
    let gr = resource_for(&key, &common.etcd_prefix)?;
    let Some(loaded) = load(common)? else { return Ok(Outcome::Failed) };
    let transformer = loaded.transformers.for_resource(&gr);
    let (plaintext, stale) = match transformer.from_storage(&raw.value, key.as_bytes()) {
        Ok(ok) => ok,
        Err(err) => {
            // etcdctl --print-value-only appends a newline the apiserver never stored.
            if let Some(stripped) = raw.value.strip_suffix(b"\n")
                && let Ok(ok) = transformer.from_storage(stripped, key.as_bytes())
            {
                eprintln!(
                    "warning: the input ends with a newline that is not part of the stored value \
                     (etcdctl --print-value-only adds one); decrypted without it"
                );
                ok
            } else {
                eprintln!("{err}");
                eprintln!(
                    "note: kube-apiserver 1.37 answers a GET of this object with: Internal error occurred: \
                     StorageError: corrupt object, Code: 7, Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: \
                     data from the storage is not transformable revision=0: {err}"
                );
                loaded.kms_note();
                return Ok(Outcome::Failed);
            }
        }
    };
    if stale {
        eprintln!(
            "note: this value is stale: it was not written with the first provider's first key; \
             the next update of the object rewrites it"
        );
    }
    match args.output {
        DecryptOutput::Raw => write_stdout(&plaintext)?,
        DecryptOutput::Json | DecryptOutput::Yaml => {
            let object = atrest_objects::decode_stored(&plaintext)
                .with_context(|| format!("decoding the decrypted object stored at {key}"))?;
            let value = atrest_objects::to_json_value(&object);
            let text = if args.output == DecryptOutput::Json {
                let mut text = serde_json::to_string_pretty(&value)?;
                text.push('\n');
                text
            } else {
                crate::yaml::to_yaml(&value)
            };
            write_stdout(text.as_bytes())?;
        }
    }
    Ok(Outcome::Ok)
}

/// `atrest encrypt`.
pub(crate) fn encrypt(args: &EncryptArgs) -> Result<Outcome> {
    let common = &args.common;
    let Some(key) = &common.etcd_key else {
        bail!("--etcd-key is required: it selects the providers and is the authenticated data")
    };
    let gr = resource_for(key, &common.etcd_prefix)?;
    let plaintext = input::read_bytes(Some(&common.input))?;
    let Some(loaded) = load(common)? else { return Ok(Outcome::Failed) };
    match loaded.transformers.for_resource(&gr).to_storage(&plaintext, key.as_bytes()) {
        Ok(stored) => {
            write_stdout(&stored)?;
            Ok(Outcome::Ok)
        }
        Err(err) => {
            eprintln!("{err}");
            loaded.kms_note();
            Ok(Outcome::Failed)
        }
    }
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).context("writing standard output")
}
