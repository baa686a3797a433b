//! Compatibility with the Python side of Ansible, at the bottom of the layers (it imports
//! nothing of the crate above it): Python's `re` syntax translated for the `regex` crate,
//! Python's string-literal escapes, PyYAML's emitter, and the YAML 1.1 loader Ansible's files are read with.

pub mod fnmatch;
pub mod py;
pub mod pyre;
pub mod pystr;
pub mod pyyaml;
pub mod yaml;
