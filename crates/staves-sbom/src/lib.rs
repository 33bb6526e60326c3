//! Software bills of materials: an SPDX 2.3 JSON document for an image made of Debian
//! packages.
//!
//! One SPDX package per installed `.deb` — version, architecture, supplier (the
//! `Maintainer`), the licence declared by its machine-readable `copyright` file, the
//! `.deb`'s SHA-256 and a `pkg:deb` purl — related to each other by `DEPENDS_ON` as their
//! `Depends` and `Pre-Depends` resolved in the image, and contained in the image (or in each
//! image of an index), which the document describes.
//!
//! * [`copyright`]: licences from DEP-5 copyright files, as SPDX expressions.
//! * [`spdx`]: the document.

pub mod copyright;
pub mod cyclonedx;
pub mod spdx;

pub use spdx::{Document, Image, Package, Subject};
