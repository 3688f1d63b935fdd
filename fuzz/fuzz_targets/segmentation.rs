//! Software TCP segmentation: arbitrary bytes as a frame, cut into pieces
//! of a size taken from the input's first two bytes. Nothing may panic; a
//! frame that is cut gives as many pieces as it says, each one TCP
//! segment no longer than the frame or than the most headers and a
//! piece's payload; a refused frame gives none.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirage::net::device::{is_tcp_segment, segmentation};

fuzz_target!(|data: &[u8]| {
    let Some((size, frame)) = data.split_first_chunk::<2>() else {
        return;
    };
    let size = usize::from(u16::from_be_bytes(*size));
    let mut pieces = 0;
    let mut total = 0;
    let result = segmentation::segment(frame, size, |piece| {
        assert!(is_tcp_segment(piece));
        assert!(piece.len() <= frame.len().min(14 + 60 + 60 + size), "{}", piece.len());
        pieces += 1;
        total += piece.len();
    });
    match result {
        Ok(n) => assert_eq!(n, pieces),
        Err(_) => assert_eq!((pieces, total), (0, 0)),
    }
});
