//! kube-apiserver storage transformers.
