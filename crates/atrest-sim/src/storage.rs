//! The storage path: objects encoded as kube-apiserver encodes them, written and read
//! through the resource's transformer with the etcd key as authenticated data.

use super::*;

pub(super) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(super) fn encode_object(kind: Kind, meta: &ObjectMeta, data: &Data) -> Vec<u8> {
    let mut meta = meta.clone();
    meta.prepare_for_storage();
    match kind {
        Kind::Secret => encode_secret(&Secret {
            metadata: meta,
            data: data.0.clone(),
            type_: "Opaque".to_owned(),
            ..Secret::default()
        }),
        Kind::ConfigMap => encode_configmap(&ConfigMap {
            metadata: meta,
            data: data
                .0
                .iter()
                .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                .collect(),
            ..ConfigMap::default()
        }),
    }
}

pub(super) fn decode_object(plaintext: &[u8]) -> Option<(ObjectMeta, Data)> {
    match decode_stored(plaintext).ok()? {
        StoredObject::Secret(s) => Some((s.metadata, Data(s.data))),
        StoredObject::ConfigMap(c) => {
            Some((c.metadata, Data(c.data.into_iter().map(|(k, v)| (k, v.into_bytes())).collect())))
        }
        _ => None,
    }
}

pub(super) fn to_object(id: &ObjectRef, data: Data, revision: i64) -> Object {
    Object { id: id.clone(), data, resource_version: Some(revision.to_string()) }
}

impl SimCluster {
    pub(super) fn transformer(running: &Running, kind: Kind) -> &dyn Transformer {
        running.transformers.for_resource(&GroupResource::parse(kind.resource()))
    }

    /// Reads and decodes one stored object as the etcd3 store does.
    pub(super) fn read(
        &self,
        running: &Running,
        id: &ObjectRef,
    ) -> Result<Option<Current>, String> {
        let key = id.etcd_key(self.etcd_prefix());
        let Some(kv) = self.etcd.get(&key) else { return Ok(None) };
        let (plaintext, stale) = Self::transformer(running, id.kind)
            .from_storage(&kv.value, key.as_bytes())
            .map_err(|e| e.to_string())?;
        let (meta, data) =
            decode_object(&plaintext).ok_or_else(|| "object not decodable".to_owned())?;
        Ok(Some(Current { meta, data, plaintext, stale, mod_revision: kv.mod_revision }))
    }

    pub(super) fn write(
        &mut self,
        i: usize,
        id: &ObjectRef,
        meta: &ObjectMeta,
        data: &Data,
    ) -> ApiResult<i64> {
        let plaintext = encode_object(id.kind, meta, data);
        let key = id.etcd_key(self.etcd_prefix());
        let Some(running) = self.apiservers[i].running.as_ref() else {
            return Err(status::internal("apiserver not running"));
        };
        let stored = Self::transformer(running, id.kind)
            .to_storage(&plaintext, key.as_bytes())
            .map_err(|e| status::internal(&e.to_string()))?;
        self.kms_write_capability(running, &stored).map_err(|e| status::internal(&e))?;
        self.etcd
            .put(&key, stored)
            .map_err(|NoSpace| status::etcd_error(atrest_backend::ETCD_NO_SPACE))
    }

    pub(super) fn new_meta(&self, id: &ObjectRef) -> ObjectMeta {
        let mut uid = [0u8; 16];
        // A UID only needs to be unique; fall back to the revision if the source is exhausted.
        if self.random.fill(&mut uid).is_err() {
            uid[..8].copy_from_slice(&self.etcd_revision().to_be_bytes());
        }
        uid[6] = (uid[6] & 0x0f) | 0x40;
        uid[8] = (uid[8] & 0x3f) | 0x80;
        let h = |r: &[u8]| r.iter().map(|b| format!("{b:02x}")).collect::<String>();
        ObjectMeta {
            name: id.name.clone(),
            namespace: id.namespace.clone(),
            uid: format!(
                "{}-{}-{}-{}-{}",
                h(&uid[0..4]),
                h(&uid[4..6]),
                h(&uid[6..8]),
                h(&uid[8..10]),
                h(&uid[10..16])
            ),
            creation_timestamp: Time::from_unix_seconds(now_unix()),
            ..ObjectMeta::default()
        }
    }

    pub(super) fn etcd_revision(&self) -> i64 {
        self.etcd.range("").map(|(_, kv)| kv.mod_revision).max().unwrap_or(1)
    }
}
