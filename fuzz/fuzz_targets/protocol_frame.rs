//! A WebSocket frame from the network, decoded by the client's protocol codec
//! (`nimo_shared::sync::protocol`). Whatever the bytes, decoding returns a value or an error;
//! a decoded message encodes and decodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nimo_shared::sync::Message;

fuzz_target!(|frame: &[u8]| {
    if let Ok(message) = Message::decode(frame) {
        let again = Message::decode(&message.encode()).expect("an encoded message decodes");
        assert_eq!(again, message, "encode/decode round trip changed the message");
    }
});
