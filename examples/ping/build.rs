//! The device graph of `ping`: the unikernel's own network stack over the
//! default network (the tap `tap0` on unix, the Solo5 net device `service`
//! on hvt/spt), which answers echo requests itself. Its IPv4 address comes
//! from `--ipv4` (default 10.0.0.2/24), or from DHCP when built with
//! `MIRAGE_DHCP=true`; IPv6 from the link-local address, `--ipv6` and
//! router advertisements.

use mirage_build::prelude::*;

fn main() {
    let net = default_network();
    let dhcp = key("dhcp", false).doc("Take the IPv4 address from DHCP.");
    let stack = if_impl(
        dhcp.value(),
        &dhcp_ipv4v6_stack(None, None, &net),
        &static_ipv4v6_stack(None, None, None, &net),
    );
    let main = mirage_build::main("unikernel::start", stackv4v6() >> job());
    configure(register("ping", [main.apply(&stack)]));
}
