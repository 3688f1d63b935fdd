//! The device-graph DSL of mirage: describe a unikernel in `build.rs`,
//! generate its entry point.
//!
//! This is the Rust counterpart of MirageOS's Functoria DSL (the seed's
//! `Mirage` module). An application's `build.rs` plays the role of
//! `config.ml`:
//!
//! ```no_run
//! use mirage_build::prelude::*;
//!
//! fn main() {
//!     let hello = runtime_arg::<String>("hello")
//!         .default("Hello World!".into())
//!         .doc("The message to print.");
//!     // `main` is written qualified: build.rs has its own `fn main`.
//!     let main = mirage_build::main("unikernel::start", time() >> job()).runtime_arg(&hello);
//!     configure(register("hello", [main.apply(&default_time())]));
//! }
//! ```
//!
//! - module types are [`Typ`] values (`time()`, `block()`, `job()`), functor
//!   types are built with `>>` (the seed's `@->`);
//! - implementations are [`Impl`] values: catalogue constructors
//!   (`default_time()`...), [`Device`] for your own, [`main`] for the
//!   application, applied with [`Impl::apply`] (the seed's `$`);
//! - [`key`]s are configure-time settings read from `MIRAGE_<KEY>`;
//!   [`if_impl`] and [`match_impl`] choose implementations by their value;
//! - [`runtime_arg`]s are typed command-line arguments of the unikernel;
//! - [`package`]s are the crates devices need, checked against Cargo.toml;
//! - [`configure`] evaluates the graph for the target chosen by the
//!   application's `target-*` cargo feature and writes the entry point into
//!   `OUT_DIR`, which `src/main.rs` includes with `mirage::main!()`.

mod codegen;
mod configure;
mod crunch;
mod describe;
mod device;
pub mod devices;
pub mod docteur;
mod error;
mod graph;
mod info;
mod key;
mod package;
mod runtime_arg;
mod typ;

pub use configure::{
    Application, BuildEnv, MAIN_FILE, Outputs, configure, evaluate_application, register,
    try_configure,
};
pub use device::{
    AbstractImpl, Connect, Cx, Device, Impl, Main, Solo5Device, dep, if_impl, main, match_impl,
    noop,
};
pub use devices::*;
pub use error::ConfigureError;
pub use info::Info;
pub use key::{Context, Key, KeyDescription, KeyType, Target, Value, key, target};
/// The address-with-prefix types of runtime arguments, for their defaults
/// (`runtime_arg::<Ipv4Prefix>("ipv4").default("10.0.0.2/24".parse()?)`).
pub use mirage::args::{Ipv4Prefix, Ipv6Prefix};
pub use package::{Package, package};
pub use runtime_arg::{AbstractArg, ArgType, RuntimeArg, runtime_arg};
pub use typ::*;

/// Everything a `build.rs` needs, to glob-import.
pub mod prelude {
    pub use crate::*;
}
