//! Implementations (the seed's `impl`): devices, functor application,
//! `if_impl`/`match_impl`, `main`, `noop` and build-time dependencies.
//!
//! An [`Impl<T>`] is a node of the device graph standing for an
//! implementation of the module type `T`. A [`Device`] builder makes one: its
//! Rust type, how to connect it (the code, in terms of the devices it
//! depends on), its packages, keys and runtime arguments. Dependencies are
//! typed handles, so the connect code names them through [`Cx::var`] rather
//! than by position, and a mistake is caught when the graph is evaluated,
//! naming the device.

use std::any::Any;
use std::panic::Location;
use std::rc::Rc;

use crate::info::Info;
use crate::key::Value;
use crate::package::Package;
use crate::runtime_arg::{AbstractArg, ArgDef, RuntimeArg};
use crate::typ::{Arrow, Job, Typ, TypeDesc};

/// How a device's value comes to be, as generated code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub(crate) expr: String,
    pub(crate) awaits: bool,
    pub(crate) fallible: bool,
    pub(crate) leaked: bool,
}

impl Connect {
    /// A plain expression producing the device.
    pub fn expr(code: impl Into<String>) -> Self {
        Connect {
            expr: code.into(),
            awaits: false,
            fallible: false,
            leaked: false,
        }
    }

    /// The expression already yields a `&'static` reference to the device
    /// (the generated code does not leak it again).
    pub fn leaked(mut self) -> Self {
        self.leaked = true;
        self
    }

    /// The expression is a future: the generated code awaits it.
    pub fn awaited(mut self) -> Self {
        self.awaits = true;
        self
    }

    /// The expression yields `Result<Device, E: Display>`: an error stops the
    /// start with `connect failed`, naming the device.
    pub fn fallible(mut self) -> Self {
        self.fallible = true;
        self
    }
}

/// What a device's code is written with: the generated names of its
/// dependencies, runtime arguments and functor arguments.
pub struct Cx<'a> {
    pub(crate) var: &'a str,
    pub(crate) deps: Vec<(*const Node, String, String)>,
    pub(crate) args: Vec<(String, String)>,
    pub(crate) info: &'a Info,
    pub(crate) missing: std::cell::RefCell<Vec<String>>,
}

impl Cx<'_> {
    /// The generated variable (a `&'static` reference) of the dependency
    /// `dep`, which must have been declared with [`Device::dep`].
    pub fn var<U>(&self, dep: &Impl<U>) -> String {
        self.lookup(dep).map(|(v, _)| v).unwrap_or_default()
    }

    /// The concrete Rust type of the dependency `dep`.
    pub fn ty<U>(&self, dep: &Impl<U>) -> String {
        self.lookup(dep).map(|(_, t)| t).unwrap_or_default()
    }

    fn lookup<U>(&self, dep: &Impl<U>) -> Option<(String, String)> {
        let found = self
            .deps
            .iter()
            .find(|(node, _, _)| std::ptr::eq(*node, Rc::as_ptr(&dep.node)))
            .map(|(_, v, t)| (v.clone(), t.clone()));
        if found.is_none() {
            self.missing.borrow_mut().push(describe_node(&dep.node));
        }
        found
    }

    /// The generated local holding the parsed value of runtime argument
    /// `arg`, which must have been declared with [`Device::runtime_arg`].
    pub fn arg<T>(&self, arg: &RuntimeArg<T>) -> String {
        arg.def.local()
    }

    /// The variables of the functor arguments applied with [`Impl::apply`],
    /// in order.
    pub fn applied(&self) -> Vec<String> {
        self.args.iter().map(|(v, _)| v.clone()).collect()
    }

    /// The concrete types of the applied functor arguments, in order.
    pub fn applied_types(&self) -> Vec<String> {
        self.args.iter().map(|(_, t)| t.clone()).collect()
    }

    /// This device's own generated variable name (for error messages).
    pub fn name(&self) -> &str {
        self.var
    }

    /// The build information (application name, target, keys).
    pub fn info(&self) -> &Info {
        self.info
    }
}

type CodeFn<R> = Rc<dyn Fn(&Cx<'_>) -> R>;

/// A Solo5 device the manifest must declare.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Solo5Device {
    /// A network interface of this name.
    Net(String),
    /// A block device of this name.
    Block(String),
}

/// One device definition: what `Device` builds.
pub(crate) struct DeviceDef {
    pub(crate) nice_name: String,
    pub(crate) constructor: String,
    pub(crate) identity: Option<String>,
    pub(crate) typ: String,
    pub(crate) location: &'static Location<'static>,
    pub(crate) rust_type: Option<CodeFn<String>>,
    pub(crate) connect: CodeFn<Connect>,
    pub(crate) deps: Vec<Rc<Node>>,
    pub(crate) extra_deps: Vec<Rc<Node>>,
    pub(crate) packages: Vec<Package>,
    pub(crate) packages_v: Option<Value<Vec<Package>>>,
    pub(crate) runtime_args: Vec<Rc<ArgDef>>,
    pub(crate) keys: Vec<String>,
    pub(crate) arity: usize,
    pub(crate) is_job: bool,
    pub(crate) solo5: Vec<Solo5Device>,
    pub(crate) special: Option<Rc<dyn Any>>,
    pub(crate) unavailable: Option<String>,
}

/// A node of the device graph.
pub(crate) enum Node {
    Device(Rc<DeviceDef>),
    App {
        functor: Rc<Node>,
        arg: Rc<Node>,
    },
    Choice {
        what: String,
        select: Value<usize>,
        options: Vec<Rc<Node>>,
    },
}

pub(crate) fn show_location(location: &Location<'_>) -> String {
    let file = location.file();
    let short = file.rsplit_once("/src/").map(|(_, f)| f).unwrap_or(file);
    let short = if short.ends_with("build.rs") {
        "build.rs"
    } else {
        short
    };
    format!("{short}:{}:{}", location.line(), location.column())
}

pub(crate) fn describe_node(node: &Node) -> String {
    match node {
        Node::Device(def) => format!("`{}` ({})", def.constructor, show_location(def.location)),
        Node::App { functor, .. } => describe_node(functor),
        Node::Choice { what, .. } => what.clone(),
    }
}

/// An implementation of the module type `T` (the seed's `'a impl`).
pub struct Impl<T> {
    pub(crate) node: Rc<Node>,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for Impl<T> {
    fn clone(&self) -> Self {
        Impl::of(self.node.clone())
    }
}

impl<T> Impl<T> {
    pub(crate) fn of(node: Rc<Node>) -> Self {
        Impl {
            node,
            _type: std::marker::PhantomData,
        }
    }

    /// Forgets the type (the seed's `abstract_impl`).
    pub fn abstract_impl(&self) -> AbstractImpl {
        AbstractImpl {
            node: self.node.clone(),
        }
    }
}

impl<A, B> Impl<Arrow<A, B>> {
    /// Applies the functor to an implementation of its first argument type
    /// (the seed's `$`). Applying to the wrong type, or to more arguments
    /// than the functor takes, does not compile.
    pub fn apply(&self, arg: &Impl<A>) -> Impl<B> {
        Impl::of(Rc::new(Node::App {
            functor: self.node.clone(),
            arg: arg.node.clone(),
        }))
    }
}

impl<T> std::fmt::Debug for Impl<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe_node(&self.node))
    }
}

/// An implementation of any type (the seed's `abstract_impl`).
#[derive(Clone)]
pub struct AbstractImpl {
    pub(crate) node: Rc<Node>,
}

/// A build-time dependency on `i` (the seed's `dep`): connected before the
/// device that lists it, but not passed to it.
pub fn dep<T>(i: &Impl<T>) -> AbstractImpl {
    i.abstract_impl()
}

/// Builds a device: the seed's `impl ~packages ~keys ~runtime_args
/// ~extra_deps ~connect module_name module_type`.
pub struct Device<T> {
    def: DeviceDef,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T: TypeDesc> Device<T> {
    /// A device named `nice_name` (the stem of its generated variable), of
    /// module type `typ`, made by the catalogue function `constructor`.
    #[track_caller]
    pub fn new(nice_name: &str, constructor: &str, _typ: Typ<T>) -> Self {
        Device {
            def: DeviceDef {
                nice_name: nice_name.to_string(),
                constructor: constructor.to_string(),
                identity: None,
                typ: T::describe(),
                location: Location::caller(),
                rust_type: None,
                connect: Rc::new(|_| Connect::expr("()")),
                deps: Vec::new(),
                extra_deps: Vec::new(),
                packages: Vec::new(),
                packages_v: None,
                runtime_args: Vec::new(),
                keys: Vec::new(),
                arity: T::arity(),
                is_job: T::result_name() == "job",
                solo5: Vec::new(),
                special: None,
                unavailable: None,
            },
            _type: std::marker::PhantomData,
        }
    }

    /// The device's concrete Rust type, computed from its dependencies'.
    pub fn rust_type(mut self, ty: impl Fn(&Cx<'_>) -> String + 'static) -> Self {
        self.def.rust_type = Some(Rc::new(ty));
        self
    }

    /// The code that connects the device.
    pub fn connect(mut self, code: impl Fn(&Cx<'_>) -> Connect + 'static) -> Self {
        self.def.connect = Rc::new(code);
        self
    }

    /// A device it depends on and reads through [`Cx::var`].
    pub fn dep<U>(mut self, dep: &Impl<U>) -> Self {
        self.def.deps.push(dep.node.clone());
        self
    }

    /// Devices to connect first without passing them (the seed's
    /// `extra_deps`).
    pub fn extra_deps(mut self, deps: impl IntoIterator<Item = AbstractImpl>) -> Self {
        self.def.extra_deps.extend(deps.into_iter().map(|d| d.node));
        self
    }

    /// A crate the device needs.
    pub fn package(mut self, package: Package) -> Self {
        self.def.packages.push(package);
        self
    }

    /// Crates the device needs, depending on keys (the seed's `packages_v`).
    pub fn packages_v(mut self, packages: Value<Vec<Package>>) -> Self {
        self.def.packages_v = Some(packages);
        self
    }

    /// A runtime argument the device reads through [`Cx::arg`].
    pub fn runtime_arg(mut self, arg: impl Into<AbstractArg>) -> Self {
        self.def.runtime_args.push(arg.into().def);
        self
    }

    /// Records the name of a configure-time key the device reads (shown in
    /// the graph description).
    pub fn key(mut self, name: &str) -> Self {
        self.def.keys.push(name.to_string());
        self
    }

    /// Two devices with the same identity (and the same dependencies) are
    /// one device, connected once: catalogue constructors like
    /// `default_time()` set one so every call shares the device.
    pub fn identity(mut self, identity: &str) -> Self {
        self.def.identity = Some(identity.to_string());
        self
    }

    /// The Solo5 device this device needs in the unikernel's manifest.
    pub fn solo5_device(mut self, device: Solo5Device) -> Self {
        self.def.solo5.push(device);
        self
    }

    /// Marks the device as impossible in this build, with the reason: if
    /// the graph uses it, `configure` fails with that message (e.g. a Xen
    /// device on a target without Xen).
    pub fn unavailable(mut self, reason: &str) -> Self {
        self.def.unavailable = Some(reason.to_string());
        self
    }

    /// Attaches build-time data the code generator reads (argv modes...).
    pub(crate) fn special(mut self, data: Rc<dyn Any>) -> Self {
        self.def.special = Some(data);
        self
    }

    /// Makes the implementation.
    pub fn build(self) -> Impl<T> {
        Impl::of(Rc::new(Node::Device(Rc::new(self.def))))
    }
}

/// A main functor (the seed's `main`): the application's job, an `async fn`
/// at `path` taking the devices it is applied to (as `&'static` references)
/// and then the values of its runtime arguments, and returning `()` or
/// `Result<(), E: Display>`.
pub struct Main<T> {
    path: String,
    location: &'static Location<'static>,
    packages: Vec<Package>,
    runtime_args: Vec<Rc<ArgDef>>,
    _type: std::marker::PhantomData<fn() -> T>,
}

/// The application's main functor at `path`, of type `typ` (the seed's
/// `main`): `main("unikernel::start", time() >> job())`.
#[track_caller]
pub fn main<T: TypeDesc>(path: &str, _typ: Typ<T>) -> Main<T> {
    Main {
        path: path.to_string(),
        location: Location::caller(),
        packages: Vec::new(),
        runtime_args: Vec::new(),
        _type: std::marker::PhantomData,
    }
}

impl<T: TypeDesc> Main<T> {
    /// A runtime argument passed to the job after its devices and the
    /// arguments given before it.
    pub fn runtime_arg(mut self, arg: impl Into<AbstractArg>) -> Self {
        self.runtime_args.push(arg.into().def);
        self
    }

    /// Runtime arguments passed to the job after its devices, in order.
    pub fn runtime_args(mut self, args: impl IntoIterator<Item = AbstractArg>) -> Self {
        self.runtime_args.extend(args.into_iter().map(|a| a.def));
        self
    }

    /// A crate the application needs.
    pub fn package(mut self, package: Package) -> Self {
        self.packages.push(package);
        self
    }

    /// The functor, ready to be applied with [`Impl::apply`].
    pub fn build(self) -> Impl<T> {
        let path = self.path.clone();
        let args = self.runtime_args.clone();
        let nice = path.rsplit("::").next().unwrap_or("main").to_string();
        let mut def = Device::<T>::new(
            &nice,
            &format!("main \"{path}\""),
            Typ(std::marker::PhantomData),
        )
        .def;
        def.location = self.location;
        def.packages = self.packages;
        def.runtime_args = self.runtime_args;
        def.connect = Rc::new(move |cx| {
            let mut call: Vec<String> = cx.applied();
            call.extend(args.iter().map(|a| a.local()));
            Connect::expr(format!("{path}({})", call.join(", "))).awaited()
        });
        Impl::of(Rc::new(Node::Device(Rc::new(def))))
    }
}

impl<T: TypeDesc> From<Main<T>> for Impl<T> {
    fn from(main: Main<T>) -> Self {
        main.build()
    }
}

impl<A, B> Main<Arrow<A, B>>
where
    Arrow<A, B>: TypeDesc,
{
    /// Applies the main functor (shorthand for `.build().apply(arg)`).
    pub fn apply(self, arg: &Impl<A>) -> Impl<B> {
        self.build().apply(arg)
    }
}

/// The job that does nothing (the seed's `noop`).
pub fn noop() -> Impl<Job> {
    let mut def = Device::new("noop", "noop", crate::typ::job())
        .identity("noop")
        .def;
    def.connect = Rc::new(|_| Connect::expr("async {}").awaited());
    def.is_job = true;
    Impl::of(Rc::new(Node::Device(Rc::new(def))))
}

/// `then` if `cond` is true, `otherwise` if not (the seed's `if_impl`).
/// Only the chosen side is connected and only its packages are required.
#[track_caller]
pub fn if_impl<T>(cond: Value<bool>, then: &Impl<T>, otherwise: &Impl<T>) -> Impl<T> {
    let location = show_location(Location::caller());
    Impl::of(Rc::new(Node::Choice {
        what: format!("`if_impl` ({location})"),
        select: cond.map(|c| if c { 0 } else { 1 }),
        options: vec![then.node.clone(), otherwise.node.clone()],
    }))
}

/// The implementation of the first case whose value equals `value`, or
/// `default` (the seed's `match_impl`).
#[track_caller]
pub fn match_impl<V: PartialEq + 'static, T>(
    value: Value<V>,
    cases: impl IntoIterator<Item = (V, Impl<T>)>,
    default: &Impl<T>,
) -> Impl<T> {
    let location = show_location(Location::caller());
    let (values, mut options): (Vec<V>, Vec<Rc<Node>>) =
        cases.into_iter().map(|(v, i)| (v, i.node)).unzip();
    let fallback = options.len();
    options.push(default.node.clone());
    Impl::of(Rc::new(Node::Choice {
        what: format!("`match_impl` ({location})"),
        select: value.map(move |v| values.iter().position(|c| *c == v).unwrap_or(fallback)),
        options,
    }))
}
