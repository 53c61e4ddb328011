//! Wire protobufs of the formats Argus speaks, written as plain prost structs so the build needs
//! no `protoc`. Field numbers follow the upstream `.proto` files; fields Argus does not use are
//! left out and skipped by the decoder as unknown fields.

pub mod loki;
pub mod prometheus;
