//! The dual-stack IP layer (the seed's `ipv4v6` device type,
//! `create_ipv4v6`): IPv4 and IPv6 behind one [`Ip`], routing each
//! datagram by its destination's family, with either family switched off
//! by `--ipv4-only` or `--ipv6-only`.

use alloc::vec::Vec;
use core::net::IpAddr;

use crate::net::ip::{Ip, IpError, SendOptions};

/// IPv4 (`I4`) and IPv6 (`I6`) as one layer.
#[derive(Debug)]
pub struct Ipv4v6<I4: 'static, I6: 'static> {
    v4: &'static I4,
    v6: &'static I6,
    ipv4_only: bool,
    ipv6_only: bool,
}

impl<I4: Ip, I6: Ip> Ipv4v6<I4, I6> {
    /// Both families over `v4` and `v6`; `ipv4_only` switches IPv6 off,
    /// `ipv6_only` IPv4 (both set: both off, as MirageOS does not forbid
    /// it; the stack then answers nothing).
    pub fn connect(v4: &'static I4, v6: &'static I6, ipv4_only: bool, ipv6_only: bool) -> Self {
        Ipv4v6 {
            v4,
            v6,
            ipv4_only,
            ipv6_only,
        }
    }

    /// Whether IPv4 is on.
    pub fn ipv4_enabled(&self) -> bool {
        !self.ipv6_only
    }

    /// Whether IPv6 is on.
    pub fn ipv6_enabled(&self) -> bool {
        !self.ipv4_only
    }

    /// The IPv4 layer.
    pub fn ipv4(&self) -> &'static I4 {
        self.v4
    }

    /// The IPv6 layer.
    pub fn ipv6(&self) -> &'static I6 {
        self.v6
    }

    /// Whether datagrams to or from `addr` are handled.
    pub fn enabled(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(_) => self.ipv4_enabled(),
            IpAddr::V6(_) => self.ipv6_enabled(),
        }
    }
}

impl<I4: Ip, I6: Ip> Ip for Ipv4v6<I4, I6> {
    fn src(&self, dst: IpAddr) -> Option<IpAddr> {
        if !self.enabled(dst) {
            return None;
        }
        match dst {
            IpAddr::V4(_) => self.v4.src(dst),
            IpAddr::V6(_) => self.v6.src(dst),
        }
    }

    fn addresses(&self) -> Vec<IpAddr> {
        let mut all = Vec::new();
        if self.ipv4_enabled() {
            all.extend(self.v4.addresses());
        }
        if self.ipv6_enabled() {
            all.extend(self.v6.addresses());
        }
        all
    }

    fn has_address(&self, addr: IpAddr) -> bool {
        self.enabled(addr)
            && match addr {
                IpAddr::V4(_) => self.v4.has_address(addr),
                IpAddr::V6(_) => self.v6.has_address(addr),
            }
    }

    fn is_broadcast(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(_) => self.v4.is_broadcast(addr),
            IpAddr::V6(_) => self.v6.is_broadcast(addr),
        }
    }

    fn mtu(&self, dst: IpAddr) -> usize {
        match dst {
            IpAddr::V4(_) => self.v4.mtu(dst),
            IpAddr::V6(_) => self.v6.mtu(dst),
        }
    }

    fn redirect(&self, from: IpAddr, dst: IpAddr, gateway: IpAddr) -> bool {
        self.enabled(dst)
            && match dst {
                IpAddr::V4(_) => self.v4.redirect(from, dst, gateway),
                IpAddr::V6(_) => self.v6.redirect(from, dst, gateway),
            }
    }

    fn link_mtu(&self, dst: IpAddr) -> usize {
        match dst {
            IpAddr::V4(_) => self.v4.link_mtu(dst),
            IpAddr::V6(_) => self.v6.link_mtu(dst),
        }
    }

    fn learn_path_mtu(&self, dst: IpAddr, mtu: usize) -> bool {
        self.enabled(dst)
            && match dst {
                IpAddr::V4(_) => self.v4.learn_path_mtu(dst, mtu),
                IpAddr::V6(_) => self.v6.learn_path_mtu(dst, mtu),
            }
    }

    fn negative_advice(&self, dst: IpAddr) {
        if self.enabled(dst) {
            match dst {
                IpAddr::V4(_) => self.v4.negative_advice(dst),
                IpAddr::V6(_) => self.v6.negative_advice(dst),
            }
        }
    }

    async fn resolve(&self, dst: IpAddr) -> Result<(), IpError> {
        if !self.enabled(dst) {
            return Err(IpError::NoAddress(dst));
        }
        match dst {
            IpAddr::V4(_) => self.v4.resolve(dst).await,
            IpAddr::V6(_) => self.v6.resolve(dst).await,
        }
    }

    fn send(
        &self,
        src: Option<IpAddr>,
        dst: IpAddr,
        protocol: u8,
        options: SendOptions,
        len: usize,
        fill: impl FnOnce(IpAddr, &mut [u8]),
    ) -> Result<bool, IpError> {
        if !self.enabled(dst) {
            return Err(IpError::NoAddress(dst));
        }
        match dst {
            IpAddr::V4(_) => self.v4.send(src, dst, protocol, options, len, fill),
            IpAddr::V6(_) => self.v6.send(src, dst, protocol, options, len, fill),
        }
    }

    fn offers_segmentation_offload(&self) -> bool {
        self.v4.offers_segmentation_offload() || self.v6.offers_segmentation_offload()
    }

    #[inline]
    fn segmentation_offload(&self, dst: IpAddr) -> usize {
        if !self.enabled(dst) {
            return 0;
        }
        match dst {
            IpAddr::V4(_) => self.v4.segmentation_offload(dst),
            IpAddr::V6(_) => self.v6.segmentation_offload(dst),
        }
    }

    fn send_segmented(
        &self,
        src: IpAddr,
        dst: IpAddr,
        options: SendOptions,
        len: usize,
        segment_size: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Option<Result<bool, IpError>> {
        if !self.enabled(dst) {
            return None;
        }
        match dst {
            IpAddr::V4(_) => self
                .v4
                .send_segmented(src, dst, options, len, segment_size, fill),
            IpAddr::V6(_) => self
                .v6
                .send_segmented(src, dst, options, len, segment_size, fill),
        }
    }

    fn send_resolved(
        &self,
        src: Option<IpAddr>,
        dst: IpAddr,
        protocol: u8,
        options: SendOptions,
        len: usize,
        fill: impl FnOnce(IpAddr, &mut [u8]),
    ) -> Option<Result<bool, IpError>> {
        if !self.enabled(dst) {
            return Some(Err(IpError::NoAddress(dst)));
        }
        match dst {
            IpAddr::V4(_) => self
                .v4
                .send_resolved(src, dst, protocol, options, len, fill),
            IpAddr::V6(_) => self
                .v6
                .send_resolved(src, dst, protocol, options, len, fill),
        }
    }
}
