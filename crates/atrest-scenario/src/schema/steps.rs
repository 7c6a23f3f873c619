//! The steps: one enum, its YAML form (`- name: …` next to one step kind), and each step's
//! fields.

use super::*;

/// One step. The YAML form is a one-key map: `- restart: {}`.
// `deny_unknown_fields` and `rename_all_fields` cover the struct variants (`setFlags: {…}`); the
// newtype variants' structs carry their own. Without them `setFlags: {encryptionConfig: null}`
// was ignored: `rename_all` renames only the variants.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Step {
    /// Write a configuration to the flag's path (or `path`).
    WriteConfig {
        /// The configuration's name.
        #[schemars(with = "String")]
        config: Spanned<String>,
        /// Where, if not where the flag points.
        #[serde(default)]
        path: Option<String>,
        /// Whose flag path (default: every apiserver's).
        #[serde(default)]
        apiserver: Target,
    },
    /// Remove a file.
    RemoveFile {
        /// The path.
        path: String,
    },
    /// Change the static pod's manifest (flags, `hostPath` volumes) for the next start.
    SetFlags {
        /// Which apiservers.
        #[serde(default)]
        apiserver: Target,
        /// New `--encryption-provider-config` (`null` removes the flag).
        #[serde(default, deserialize_with = "some_option")]
        #[schemars(with = "Option<String>")]
        encryption_config: Option<Option<String>>,
        /// New automatic reload flag.
        #[serde(default)]
        automatic_reload: Option<bool>,
        /// New `hostPath` volumes of the static pod (the whole list).
        #[serde(default)]
        mounts: Option<Vec<MountDef>>,
    },
    /// Start stopped apiservers.
    Start {
        /// Which.
        #[serde(default)]
        apiserver: Target,
        /// How it must end.
        #[serde(default)]
        expect: Option<StartExpect>,
    },
    /// Stop apiservers.
    Stop {
        /// Which.
        #[serde(default)]
        apiserver: Target,
    },
    /// Stop then start (a static pod restart).
    Restart {
        /// Which.
        #[serde(default)]
        apiserver: Target,
        /// How it must end.
        #[serde(default)]
        expect: Option<StartExpect>,
    },
    /// Create an object (or `count` objects named `<name>-<i>`).
    Create(ObjectStep),
    /// Replace an object's data.
    Update(ObjectStep),
    /// Read an object.
    Get(ObjectStep),
    /// Delete an object.
    Delete(ObjectStep),
    /// List a resource in all namespaces (or one).
    List(ListStep),
    /// `kubectl get <resource> -A -o json | kubectl replace -f -`, retrying conflicts.
    Rewrite(ListStep),
    /// Check one raw etcd value.
    ExpectStored(StoredStep),
    /// Check every raw etcd value of a resource.
    ExpectAll(AllStep),
    /// Time creates and gets (timings are reported, never asserted).
    Measure(MeasureStep),
    /// Poll `/metrics` until automatic reload took the file written last (or reported a failure).
    WaitForReload(ReloadStep),
    /// Act on a KMS plugin of the cluster: rotate its key, switch a fault on, or clear faults.
    KmsPlugin(KmsPluginStep),
    /// Wait until the apiservers write with a KMS plugin's current key ID.
    WaitForKmsKeyId(KeyIdStep),
    /// Let time pass: a simulated cluster moves its clock, a real one waits. For a TTL that is
    /// the subject of the scenario (KMS v2's 3-minute write state), never to wait for readiness.
    Wait(WaitStep),
    /// Check how many `Encrypt` and `Decrypt` calls a KMS plugin received since the previous
    /// `expectKmsCalls` of that plugin (or since the cluster started).
    ExpectKmsCalls(KmsCallsStep),
    /// `GET` a health or readiness path (`/healthz/kms-providers`, `/readyz?verbose`).
    Probe(ProbeStep),
    /// Predict, from what etcd holds now, what an apiserver restarted with a configuration would
    /// do (`atrest preflight`), before the restart shows it.
    Preflight(PreflightStep),
    /// A fault: send a signal to etcd (`member: etcd`) or to one apiserver (`apiserver: N`) and
    /// wait until it exited. The exit is expected (not a harness error); the member stays down
    /// until `startMember` (or `start`, for an apiserver).
    Kill(KillStep),
    /// Start a killed member again: etcd on its data directory with the same ports and
    /// certificates, then every running apiserver's `/readyz` is polled until it passes again
    /// (at most a minute) and the no-loss check runs; an apiserver (`apiserver: N`) as `start`
    /// starts it.
    StartMember(MemberStep),
    /// A member that hangs rather than dies: etcd (`member: etcd`) or one apiserver
    /// (`apiserver: N`) is frozen (SIGSTOP; `docker pause` on containers) until `resume`.
    Pause(MemberStep),
    /// A paused member goes on (SIGCONT); then every running apiserver's `/readyz` (or the
    /// resumed apiserver's) is polled until it passes again (at most a minute) and the no-loss
    /// check runs.
    Resume(MemberStep),
    /// A runaway writer: create Secrets of `bytes` bytes (`<name>-0`, `<name>-1`, …) until
    /// the apiserver refuses one, then check the refusal against `expect`. Only for a cluster
    /// the harness owns, with a small `cluster.etcd.quotaBackendBytes`: where etcd's quota is
    /// reached depends on its page layout, so the report names no count.
    Fill(FillStep),
    /// Delete every object of a resource in one namespace, as listed
    /// (`kubectl delete secrets --all -n NS`).
    DeleteAll(DeleteAllStep),
    /// `etcdctl compact $(current revision) --physical`: superseded revisions are dropped; the
    /// space is free inside the database file, which keeps its size.
    Compact(EtcdStep),
    /// `etcdctl defrag`: the database file shrinks to what it holds.
    Defragment(EtcdStep),
    /// `etcdctl alarm disarm`: writes are taken again (and refused again at once if the
    /// database is still over its quota).
    DisarmAlarms(EtcdStep),
    /// `etcdctl alarm list` must show exactly these alarms (`[]`: none).
    ExpectAlarms(AlarmsStep),
    /// The tutorial's "restart": `kubectl delete pod -n kube-system kube-apiserver-<node>`.
    /// On kind it deletes the mirror pod and waits for the kubelet to create it again; the
    /// static pod's container keeps running with the configuration it read at start, which is
    /// checked. Backends without a kubelet have no such pod: the apiserver is left as it is,
    /// the same outcome, and the report says there was nothing to delete.
    DeleteMirrorPod(MirrorPodStep),
}

/// The largest object `fill` writes: etcd refuses requests over `--max-request-bytes`
/// (1.5 MiB by default).
pub const MAX_FILL_BYTES: usize = 1_000_000;

/// How many objects `fill` writes at most before it gives up (the quota was never reached).
pub const MAX_FILL_OBJECTS: usize = 100_000;

/// `fill`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FillStep {
    /// Namespace (default `default`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The Secrets' name prefix (default `fill`).
    #[serde(default = "default_fill_name")]
    pub name: String,
    /// Bytes of data in each Secret (1 to [`MAX_FILL_BYTES`]).
    #[schemars(with = "usize")]
    pub bytes: Spanned<usize>,
    /// Through which apiserver (default 0).
    #[serde(default)]
    pub apiserver: usize,
    /// The refusal that ends it (`error`, `errorContains`, `code`).
    pub expect: ApiExpect,
}

fn default_fill_name() -> String {
    "fill".to_owned()
}

/// `deleteAll`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeleteAllStep {
    /// The resource.
    pub resource: ResourceDef,
    /// The namespace (required: never every namespace).
    pub namespace: String,
    /// Through which apiserver (default 0).
    #[serde(default)]
    pub apiserver: usize,
}

/// A maintenance call on the cluster's etcd (no fields: `compact: {}`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EtcdStep {}

/// `expectAlarms`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlarmsStep {
    /// The alarms etcd must show, e.g. `[NOSPACE]`; `[]` for none.
    pub alarms: Vec<AlarmDef>,
}

/// An etcd alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AlarmDef {
    /// The space quota is exhausted.
    Nospace,
    /// The store is corrupt.
    Corrupt,
}

impl AlarmDef {
    /// etcd's name.
    pub const fn name(self) -> &'static str {
        match self {
            AlarmDef::Nospace => "NOSPACE",
            AlarmDef::Corrupt => "CORRUPT",
        }
    }
}

/// The longest step name: it is shown in reports next to the step's index.
pub const MAX_STEP_NAME: usize = 63;

/// One item of `steps`: a step and, beside its key, an optional name shown in reports
/// (`- name: promote-key2` then `writeConfig: {config: key2}` in the same map).
#[derive(Debug)]
pub struct StepEntry {
    /// `name`.
    pub name: Option<Spanned<String>>,
    /// The step.
    pub step: Step,
}

/// The step kinds as the file spells them, in declaration order: serde's own list, captured
/// from the derived `Deserialize` of [`Step`] so that it cannot drift from the enum.
pub fn step_kinds() -> &'static [&'static str] {
    struct Capture;
    #[derive(Debug)]
    struct Captured(&'static [&'static str]);
    impl fmt::Display for Captured {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("step kinds captured")
        }
    }
    impl std::error::Error for Captured {}
    impl serde::de::Error for Captured {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Captured(&[])
        }
    }
    impl<'de> serde::Deserializer<'de> for Capture {
        type Error = Captured;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Captured> {
            Err(Captured(&[]))
        }
        fn deserialize_enum<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Captured> {
            Err(Captured(variants))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
            ignored_any
        }
    }
    match Step::deserialize(Capture) {
        Err(Captured(kinds)) => kinds,
        Ok(_) => &[],
    }
}

impl JsonSchema for StepEntry {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StepEntry".into()
    }
    // Step's own schema (one object per kind) with `name` beside every kind.
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = Step::json_schema(g);
        let name = serde_json::json!({
            "type": "string",
            "description": "Shown in reports next to the step's index.",
            "pattern": format!("^[A-Za-z0-9._-]{{1,{MAX_STEP_NAME}}}$")
        });
        let kinds = schema.get_mut("oneOf").and_then(serde_json::Value::as_array_mut);
        for kind in kinds.into_iter().flatten() {
            if let Some(props) = kind.get_mut("properties").and_then(|p| p.as_object_mut()) {
                props.insert("name".to_owned(), name.clone());
            }
        }
        schema
    }
}

impl<'de> Deserialize<'de> for StepEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, DeserializeSeed, Error as _, MapAccess, Visitor};

        /// A key of the map: `name`, or a step kind (checked here, so that an unknown kind is
        /// reported at the key).
        enum Key {
            Name,
            Kind(&'static str),
        }
        struct KeySeed;
        impl<'de> DeserializeSeed<'de> for KeySeed {
            type Value = Key;
            fn deserialize<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Key, D2::Error> {
                let key = String::deserialize(d)?;
                if key == "name" {
                    return Ok(Key::Name);
                }
                let kinds = step_kinds();
                match kinds.iter().find(|k| **k == key) {
                    Some(k) => Ok(Key::Kind(k)),
                    None => Err(D2::Error::unknown_variant(&key, kinds)),
                }
            }
        }
        /// The value of a step kind's key, read as that variant of [`Step`].
        struct StepSeed(&'static str);
        impl<'de> DeserializeSeed<'de> for StepSeed {
            type Value = Step;
            fn deserialize<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Step, D2::Error> {
                Step::deserialize(Variant { kind: self.0, value: d })
            }
        }
        /// Presents (kind, value) to the derived `Deserialize` of [`Step`] as an enum.
        struct Variant<D2> {
            kind: &'static str,
            value: D2,
        }
        impl<'de, D2: serde::Deserializer<'de>> serde::Deserializer<'de> for Variant<D2> {
            type Error = D2::Error;
            fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D2::Error> {
                v.visit_enum(self)
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct
                enum identifier ignored_any
            }
        }
        impl<'de, D2: serde::Deserializer<'de>> de::EnumAccess<'de> for Variant<D2> {
            type Error = D2::Error;
            type Variant = D2Variant<D2>;
            fn variant_seed<S: DeserializeSeed<'de>>(
                self,
                seed: S,
            ) -> Result<(S::Value, D2Variant<D2>), D2::Error> {
                let tag =
                    seed.deserialize(de::value::StrDeserializer::<D2::Error>::new(self.kind))?;
                Ok((tag, D2Variant(self.value)))
            }
        }
        struct D2Variant<D2>(D2);
        impl<'de, D2: serde::Deserializer<'de>> de::VariantAccess<'de> for D2Variant<D2> {
            type Error = D2::Error;
            fn unit_variant(self) -> Result<(), D2::Error> {
                <()>::deserialize(self.0)
            }
            fn newtype_variant_seed<S: DeserializeSeed<'de>>(
                self,
                seed: S,
            ) -> Result<S::Value, D2::Error> {
                seed.deserialize(self.0)
            }
            fn tuple_variant<V: Visitor<'de>>(
                self,
                len: usize,
                v: V,
            ) -> Result<V::Value, D2::Error> {
                self.0.deserialize_tuple(len, v)
            }
            fn struct_variant<V: Visitor<'de>>(
                self,
                fields: &'static [&'static str],
                v: V,
            ) -> Result<V::Value, D2::Error> {
                self.0.deserialize_struct("", fields, v)
            }
        }

        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = StepEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step: a map with one step kind and an optional `name`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<StepEntry, A::Error> {
                let mut name = None;
                let mut step: Option<(&str, Step)> = None;
                while let Some(key) = m.next_key_seed(KeySeed)? {
                    match key {
                        Key::Name => name = Some(m.next_value::<Spanned<String>>()?),
                        Key::Kind(kind) => {
                            if let Some((first, _)) = &step {
                                return Err(A::Error::custom(format!(
                                    "one step per list item: `{first}` and `{kind}` are two \
                                     (start another item with `-`)"
                                )));
                            }
                            step = Some((kind, m.next_value_seed(StepSeed(kind))?));
                        }
                    }
                }
                match step {
                    Some((_, step)) => Ok(StepEntry { name, step }),
                    None => Err(A::Error::custom(format!(
                        "a step needs a kind, one of {}",
                        step_kinds().join(", ")
                    ))),
                }
            }
        }
        d.deserialize_map(EntryVisitor)
    }
}

/// `preflight`: Secrets and ConfigMaps in etcd judged under a configuration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PreflightStep {
    /// The configuration an apiserver would be restarted with.
    #[schemars(with = "String")]
    pub config: Spanned<String>,
    /// The prediction.
    pub expect: PreflightExpect,
}

/// What `preflight` must predict.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PreflightExpect {
    /// Whether the apiserver becomes ready.
    #[serde(default)]
    pub ready: Option<bool>,
    /// How many Secrets and ConfigMaps it cannot read (at most [`MAX_OBJECTS`]).
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub unreadable: Option<Spanned<usize>>,
    /// How many it reads but not with its write provider (at most [`MAX_OBJECTS`]).
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub stale: Option<Spanned<usize>>,
}

/// What a step needs of its backend beyond API requests, in words for refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing but the API (and a real or simulated clock).
    Api,
    /// Start, stop or restart apiservers.
    Apiservers,
    /// Change an apiserver's flags or mounts after the cluster was created.
    Flags,
    /// Kill, pause, resume or restart etcd and apiservers (fault injection), fill etcd to its
    /// quota, or run etcd's maintenance calls: only on members the harness owns.
    Members,
    /// Write or remove files the apiservers read.
    Files,
    /// The harness's KMS plugins.
    KmsPlugins,
    /// etcd's raw values.
    RawEtcd,
}

impl Need {
    /// Whether `controls` allow it.
    pub fn met_by(self, controls: &Controls) -> bool {
        match self {
            Need::Api => true,
            Need::Apiservers => controls.apiservers,
            Need::Flags => controls.flags,
            Need::Members => controls.members,
            Need::Files => controls.files,
            Need::KmsPlugins => controls.kms_plugins,
            Need::RawEtcd => controls.raw_etcd,
        }
    }

    /// What the step would do, for "the BACKEND backend cannot …".
    pub fn doing(self) -> &'static str {
        match self {
            Need::Api => "send API requests",
            Need::Apiservers => "start, stop or restart apiservers",
            Need::Flags => {
                "change an apiserver's flags or mounts after the cluster was created (setFlags)"
            }
            Need::Members => {
                "kill, pause, resume or restart etcd, apiservers and KMS plugins, or fill or \
                 maintain etcd (only members the harness runs)"
            }
            Need::Files => "write the files the apiservers read",
            Need::KmsPlugins => "run or control the harness's KMS plugins",
            Need::RawEtcd => "read etcd (give its endpoint and client certificate)",
        }
    }
}

impl Step {
    /// What the step needs of its backend.
    pub fn needs(&self) -> Need {
        match self {
            Step::WriteConfig { .. } | Step::RemoveFile { .. } | Step::WaitForReload(_) => {
                Need::Files
            }
            Step::SetFlags { .. } => Need::Flags,
            Step::Start { .. } | Step::Stop { .. } | Step::Restart { .. } => Need::Apiservers,
            Step::Kill(_)
            | Step::StartMember(_)
            | Step::Pause(_)
            | Step::Resume(_)
            | Step::Fill(_)
            | Step::Compact(_)
            | Step::Defragment(_)
            | Step::DisarmAlarms(_)
            | Step::ExpectAlarms(_) => Need::Members,
            Step::Create(_)
            | Step::Update(_)
            | Step::Get(_)
            | Step::Delete(_)
            | Step::List(_)
            | Step::Rewrite(_)
            | Step::DeleteAll(_)
            | Step::Measure(_)
            | Step::Wait(_)
            | Step::Probe(_) => Need::Api,
            Step::ExpectStored(_) | Step::ExpectAll(_) | Step::Preflight(_) => Need::RawEtcd,
            Step::KmsPlugin(_) | Step::WaitForKmsKeyId(_) | Step::ExpectKmsCalls(_) => {
                Need::KmsPlugins
            }
            Step::DeleteMirrorPod(_) => Need::Apiservers,
        }
    }

    /// The step's key in the file (`create`, `waitForReload`, …), for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::WriteConfig { .. } => "writeConfig",
            Step::RemoveFile { .. } => "removeFile",
            Step::SetFlags { .. } => "setFlags",
            Step::Start { .. } => "start",
            Step::Stop { .. } => "stop",
            Step::Restart { .. } => "restart",
            Step::Create(_) => "create",
            Step::Update(_) => "update",
            Step::Get(_) => "get",
            Step::Delete(_) => "delete",
            Step::List(_) => "list",
            Step::Rewrite(_) => "rewrite",
            Step::ExpectStored(_) => "expectStored",
            Step::ExpectAll(_) => "expectAll",
            Step::Measure(_) => "measure",
            Step::WaitForReload(_) => "waitForReload",
            Step::KmsPlugin(_) => "kmsPlugin",
            Step::WaitForKmsKeyId(_) => "waitForKmsKeyId",
            Step::ExpectKmsCalls(_) => "expectKmsCalls",
            Step::Wait(_) => "wait",
            Step::Probe(_) => "probe",
            Step::Preflight(_) => "preflight",
            Step::Kill(_) => "kill",
            Step::StartMember(_) => "startMember",
            Step::Pause(_) => "pause",
            Step::Resume(_) => "resume",
            Step::Fill(_) => "fill",
            Step::DeleteAll(_) => "deleteAll",
            Step::Compact(_) => "compact",
            Step::Defragment(_) => "defragment",
            Step::DisarmAlarms(_) => "disarmAlarms",
            Step::ExpectAlarms(_) => "expectAlarms",
            Step::DeleteMirrorPod(_) => "deleteMirrorPod",
        }
    }
}

/// `deleteMirrorPod`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MirrorPodStep {
    /// Which apiserver (default 0); it must be running.
    #[serde(default)]
    pub apiserver: usize,
}

/// `waitForReload`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReloadStep {
    /// Which apiservers.
    #[serde(default)]
    pub apiserver: Target,
    /// `loaded`: `apiserver_encryption_config_controller_last_config_info` carries the sha256 of
    /// the file written last. `failed`: the reload failure counter went up and the old hash stays.
    pub expect: ReloadExpect,
    /// Deadline (kube-apiserver polls the file once a minute; at most [`MAX_TIMEOUT_SECONDS`]).
    #[serde(default = "default_reload_timeout")]
    #[schemars(with = "u64")]
    pub timeout_seconds: Spanned<u64>,
}

/// `kmsPlugin`: exactly one of `rotate`, `fault`, `clearFaults`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KmsPluginStep {
    /// The plugin (a `cluster.kmsPlugins` name).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// A new key version becomes current: `Status` reports a new `key_id`.
    #[serde(default)]
    pub rotate: bool,
    /// Switch this fault on.
    #[serde(default)]
    pub fault: Option<KmsFaultDef>,
    /// Switch every fault off.
    #[serde(default)]
    pub clear_faults: bool,
}

/// A fault of `kmsPlugin.fault`: `unavailable`, `{latencyMs: 50}`, `failEncrypt`, …
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum KmsFaultDef {
    /// The socket is closed.
    Unavailable,
    /// Every call is answered this many milliseconds later.
    LatencyMs(u64),
    /// `Encrypt` fails (gRPC `Internal`).
    FailEncrypt,
    /// `Decrypt` fails (gRPC `Internal`).
    FailDecrypt,
    /// `Status` fails (gRPC `Internal`).
    FailStatus,
    /// `Status` answers this `healthz` instead of `ok`.
    Unhealthy(String),
    /// Another key-encryption key under the same key IDs.
    WrongKek,
}

impl KmsFaultDef {
    /// The boundary's fault.
    pub fn to_backend(&self) -> atrest_backend::KmsFault {
        use atrest_backend::KmsFault;
        match self {
            KmsFaultDef::Unavailable => KmsFault::Unavailable,
            KmsFaultDef::LatencyMs(ms) => KmsFault::Latency(std::time::Duration::from_millis(*ms)),
            KmsFaultDef::FailEncrypt => KmsFault::FailEncrypt,
            KmsFaultDef::FailDecrypt => KmsFault::FailDecrypt,
            KmsFaultDef::FailStatus => KmsFault::FailStatus,
            KmsFaultDef::Unhealthy(h) => KmsFault::Unhealthy(h.clone()),
            KmsFaultDef::WrongKek => KmsFault::WrongKek,
        }
    }
}

/// A member a fault step names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MemberDef {
    /// The etcd.
    Etcd,
}

/// The signal of a `kill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum SignalDef {
    /// SIGKILL: a crash.
    #[default]
    Kill,
    /// SIGTERM: a graceful stop (SIGKILL follows after the member's stop grace, as a kubelet
    /// does).
    Term,
}

/// `kill`: which member, and the signal.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KillStep {
    /// `etcd` (give exactly one of `member`, `apiserver`, `kmsPlugin`).
    #[serde(default)]
    pub member: Option<MemberDef>,
    /// An apiserver's index.
    #[serde(default)]
    pub apiserver: Option<usize>,
    /// A KMS plugin of `cluster.kmsPlugins`, by name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub kms_plugin: Option<Spanned<String>>,
    /// `KILL` (default) or `TERM`.
    #[serde(default)]
    pub signal: SignalDef,
}

/// `startMember`: which member.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MemberStep {
    /// `etcd` (give exactly one of `member`, `apiserver`, `kmsPlugin`).
    #[serde(default)]
    pub member: Option<MemberDef>,
    /// An apiserver's index.
    #[serde(default)]
    pub apiserver: Option<usize>,
    /// A KMS plugin of `cluster.kmsPlugins`, by name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub kms_plugin: Option<Spanned<String>>,
}

impl KillStep {
    /// The member it names.
    pub fn member(&self) -> atrest_backend::Member {
        member_of(self.member, self.apiserver, self.kms_plugin.as_ref())
    }
}

impl MemberStep {
    /// The member it names.
    pub fn member(&self) -> atrest_backend::Member {
        member_of(self.member, self.apiserver, self.kms_plugin.as_ref())
    }
}

impl SignalDef {
    /// The boundary's signal.
    pub fn to_backend(self) -> atrest_backend::KillSignal {
        match self {
            SignalDef::Kill => atrest_backend::KillSignal::Kill,
            SignalDef::Term => atrest_backend::KillSignal::Term,
        }
    }
}

/// The member named by `member`, `apiserver` or `kmsPlugin` (exactly one is given: checked at
/// load).
fn member_of(
    member: Option<MemberDef>,
    apiserver: Option<usize>,
    kms_plugin: Option<&Spanned<String>>,
) -> atrest_backend::Member {
    match (member, apiserver, kms_plugin) {
        (None, Some(i), _) => atrest_backend::Member::ApiServer(i),
        (None, None, Some(name)) => atrest_backend::Member::KmsPlugin(name.value.clone()),
        _ => atrest_backend::Member::Etcd,
    }
}

/// `probe`: one `GET` of a health path and what it must answer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProbeStep {
    /// `/healthz…`, `/readyz…` or `/livez…`.
    pub path: String,
    /// Which apiserver (default 0).
    #[serde(default)]
    pub apiserver: usize,
    /// What it must answer.
    pub expect: ProbeExpect,
    /// Poll (once a second) until the code is `expect.code`, at most this long (at most
    /// [`MAX_TIMEOUT_SECONDS`]); the body is checked on the last answer. Without it, one `GET`.
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub timeout_seconds: Option<Spanned<u64>>,
}

/// What a `probe` must answer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProbeExpect {
    /// The HTTP status code (100 to 599).
    #[schemars(with = "u16")]
    pub code: Spanned<u16>,
    /// Exactly this body (trailing whitespace ignored).
    #[serde(default)]
    pub body: Option<String>,
    /// A body containing this.
    #[serde(default)]
    pub body_contains: Option<String>,
}

/// `waitForKmsKeyId`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyIdStep {
    /// The plugin (a `cluster.kmsPlugins` name).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Which apiservers.
    #[serde(default)]
    pub apiserver: Target,
    /// Deadline (kube-apiserver polls `Status` once a minute; at most [`MAX_TIMEOUT_SECONDS`]).
    #[serde(default = "default_reload_timeout")]
    #[schemars(with = "u64")]
    pub timeout_seconds: Spanned<u64>,
}

/// `wait`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WaitStep {
    /// How long, in seconds (1 to [`MAX_WAIT_SECONDS`]).
    #[schemars(with = "u64")]
    pub seconds: Spanned<u64>,
}

/// The longest `wait`: ten minutes covers every TTL kube-apiserver has in this area (KMS v2
/// write state 3 min, the `Status` poll 1 min) with room to spare.
pub const MAX_WAIT_SECONDS: u64 = 600;

/// `expectKmsCalls`. `Status` calls are not counted: kube-apiserver makes them on its own
/// clock (a poll a minute, health checks), so their number depends on time, not on the steps.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KmsCallsStep {
    /// The plugin (a `cluster.kmsPlugins` name).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// `Encrypt` calls (DEKs or seeds wrapped).
    #[serde(default)]
    pub encrypt: Option<u64>,
    /// `Decrypt` calls (DEKs or seeds unwrapped).
    #[serde(default)]
    pub decrypt: Option<u64>,
}

/// What a reload must end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReloadExpect {
    /// The new file is in use.
    Loaded,
    /// The new file was rejected; the old configuration stays.
    Failed,
}

fn default_reload_timeout() -> Spanned<u64> {
    unplaced(180)
}

fn some_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A step on one object. (Fields are spelled out rather than flattened: serde cannot reject
/// unknown fields through `flatten`.)
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectStep {
    /// A Secret's name.
    #[serde(default)]
    pub secret: Option<String>,
    /// A ConfigMap's name.
    #[serde(default)]
    pub configmap: Option<String>,
    /// Namespace (default `default`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Data to write (`create`, `update`), as strings.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Repeat for `<name>-0` … `<name>-<count-1>` (at most [`MAX_OBJECTS`]).
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub count: Option<Spanned<usize>>,
    /// Through which apiserver (default 0).
    #[serde(default)]
    pub apiserver: usize,
    /// What it must answer.
    #[serde(default)]
    pub expect: Option<ApiExpect>,
}

/// `expectStored`: one raw etcd value.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StoredStep {
    /// A Secret's name.
    #[serde(default)]
    pub secret: Option<String>,
    /// A ConfigMap's name.
    #[serde(default)]
    pub configmap: Option<String>,
    /// Namespace (default `default`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// `identity`, `aescbc`, `aesgcm`, `secretbox`, `kms`.
    #[serde(default)]
    pub provider: Option<String>,
    /// The key name in the prefix (`k8s:enc:<provider>:v1:<key>:`).
    #[serde(default)]
    pub key: Option<String>,
    /// Whether the value is plaintext (readable in etcd without any key).
    #[serde(default)]
    pub plaintext: Option<bool>,
    /// A configuration (by name) whose providers must decrypt the value.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) whose providers must fail to decrypt the value.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) under which the value is current: it decrypts with the
    /// provider and key that configuration writes with (`atrest inspect`'s `current`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub current_with: Option<Spanned<String>>,
    /// A configuration (by name) under which the value is stale: readable, but not with its
    /// write key, so the next update rewrites it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stale_with: Option<Spanned<String>>,
    /// The key ID in a KMS v2 value's `EncryptedObject`.
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

/// `expectAll`: every raw etcd value of a resource.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AllStep {
    /// The resource.
    pub resource: ResourceDef,
    /// Only this namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `identity`, `aescbc`, `aesgcm`, `secretbox`, `kms`.
    #[serde(default)]
    pub provider: Option<String>,
    /// The key name in the prefix.
    #[serde(default)]
    pub key: Option<String>,
    /// Whether every value is plaintext.
    #[serde(default)]
    pub plaintext: Option<bool>,
    /// A configuration (by name) whose providers must decrypt every value.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) whose providers must fail to decrypt every value.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) under which every value is current.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub current_with: Option<Spanned<String>>,
    /// A configuration (by name) under which every value is stale.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stale_with: Option<Spanned<String>>,
    /// The key ID in every value's KMS v2 `EncryptedObject`.
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

impl StoredStep {
    /// The object.
    pub fn object(&self) -> ObjectDef {
        ObjectDef {
            secret: self.secret.clone(),
            configmap: self.configmap.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// The checks it asks for.
    pub fn checks(&self) -> Vec<StoredCheck> {
        let mut checks = StoredCheck::from_fields(
            &self.provider,
            &self.key,
            self.plaintext,
            &self.decryptable_with,
            &self.not_decryptable_with,
            &self.current_with,
            &self.stale_with,
        );
        // Last, as in `STORED_CHECK_FIELDS`.
        checks.extend(self.kms_key_id.clone().map(StoredCheck::KmsKeyId));
        checks
    }
}

impl AllStep {
    /// The checks it asks for.
    pub fn checks(&self) -> Vec<StoredCheck> {
        let mut checks = StoredCheck::from_fields(
            &self.provider,
            &self.key,
            self.plaintext,
            &self.decryptable_with,
            &self.not_decryptable_with,
            &self.current_with,
            &self.stale_with,
        );
        // Last, as in `STORED_CHECK_FIELDS`.
        checks.extend(self.kms_key_id.clone().map(StoredCheck::KmsKeyId));
        checks
    }
}

/// A step on a whole resource.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListStep {
    /// The resource.
    pub resource: ResourceDef,
    /// One namespace only.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `rewrite` only: another client updates objects between the list and their replace.
    #[serde(default)]
    pub concurrent_update: Option<ConcurrentUpdate>,
    /// Through which apiserver (default 0).
    #[serde(default)]
    pub apiserver: usize,
    /// What it must answer.
    #[serde(default)]
    pub expect: Option<ApiExpect>,
}

/// Updates made by "another client" while a rewrite runs: after the rewrite listed the objects,
/// every `every`-th object the scenario wrote gets `data` just before the rewrite replaces it,
/// so that replace conflicts and must be retried.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConcurrentUpdate {
    /// Which objects: every n-th of those the scenario wrote (1: all; at most [`MAX_OBJECTS`]).
    #[serde(default = "spanned_one")]
    #[schemars(with = "usize")]
    pub every: Spanned<usize>,
    /// The new data.
    pub data: BTreeMap<String, String>,
    /// Through which apiserver (default 0).
    #[serde(default)]
    pub apiserver: usize,
}

/// A timed series of requests.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MeasureStep {
    /// Label in the report (e.g. the provider).
    pub name: String,
    /// Secrets to create (named `<name>-<i>` in namespace default) and then read (1 to
    /// [`MAX_OBJECTS`]).
    #[schemars(with = "usize")]
    pub objects: Spanned<usize>,
    /// Bytes of data per object (at most [`MAX_VALUE_SIZE`], and `objects` × `size` at most
    /// [`MAX_MEASURE_BYTES`]).
    #[serde(default = "default_size")]
    #[schemars(with = "usize")]
    pub size: Spanned<usize>,
    /// The label the ratios are computed against.
    #[serde(default)]
    pub baseline: Option<String>,
}

fn default_size() -> Spanned<usize> {
    unplaced(1024)
}
