//! Stratum V2 connections on the SRI crates (`stratum-core`: codec, framing, Noise, common
//! and mining messages). The codec is sans-IO, so this runs on the same blocking threads as
//! the v1 source: a reader thread decodes frames into [`V2In`], the pool manager writes.
//!
//! Spec: <https://github.com/stratum-mining/sv2-spec> (Noise NX handshake, section 4; mining
//! protocol, section 5).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::Duration;

use stratum_core::binary_sv2::{B032Owned, Str0255Owned, U256Owned};
use stratum_core::codec_sv2::{
    self, Decoded, Decrypted, Handshake, NoiseDecoder, NoiseEncoder, TransportDecryptState,
    TransportEncryptState,
};
use stratum_core::common_messages_sv2::{Protocol, SetupConnectionOwned};
use stratum_core::framing_sv2::framing::MessageFrame;
use stratum_core::mining_sv2::{
    OpenExtendedMiningChannelOwned, OpenStandardMiningChannelOwned, SubmitSharesExtendedOwned,
    SubmitSharesStandardOwned, UpdateChannelOwned,
};
use stratum_core::noise_sv2::{Initiator, INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE};
use stratum_core::parsers_sv2::{
    AnyMessageOwned, CommonMessages, CommonMessagesOwned, Mining, MiningOwned,
};

/// How a handshake failure against the authority key starts (the manager keys on it).
pub const UNTRUSTED: &str = "the pool's certificate is not signed by";

/// SetupConnection flags of the mining protocol (spec 5.3.1).
pub const REQUIRES_STANDARD_JOBS: u32 = 1 << 0;
pub const REQUIRES_VERSION_ROLLING: u32 = 1 << 2;

/// A pool's authority public key, as SRI prints it and pools publish it: base58check of a
/// 2-byte little-endian version (1) and the 32-byte x-only secp256k1 key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorityKey(pub [u8; 32]);

impl std::str::FromStr for AuthorityKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bytes = bitcoin::base58::decode_check(s)
            .map_err(|e| format!("authority key {s:?} is not base58check: {e}"))?;
        if bytes.len() != 34 {
            return Err(format!(
                "authority key {s:?} holds {} bytes, not 34",
                bytes.len()
            ));
        }
        let version = u16::from_le_bytes([bytes[0], bytes[1]]);
        if version != 1 {
            return Err(format!("authority key {s:?} has version {version}, not 1"));
        }
        let key: [u8; 32] = bytes[2..].try_into().expect("34 - 2 bytes");
        bitcoin::secp256k1::XOnlyPublicKey::from_slice(&key)
            .map_err(|e| format!("authority key {s:?} is not a secp256k1 key: {e}"))?;
        Ok(AuthorityKey(key))
    }
}

/// Which kind of mining channel to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// Header-only: the pool sends merkle roots; devices roll version bits and ntime.
    Standard,
    /// The coinbase is built here: extranonce rolling as well (for large rigs).
    Extended,
}

/// What a V2 pool sent, decoded (owned, checked).
#[derive(Clone, Debug, PartialEq)]
pub enum V2In {
    SetupSuccess {
        flags: u32,
    },
    SetupError {
        code: String,
    },
    ChannelOpened {
        request_id: u32,
        channel_id: u32,
        target: [u8; 32],
        extranonce_prefix: Vec<u8>,
        /// 0 for a standard channel.
        extranonce_size: u16,
        /// The group the pool put the channel in (it may address jobs to the group).
        group_channel_id: u32,
    },
    ChannelError {
        request_id: u32,
        code: String,
    },
    NewJob {
        channel_id: u32,
        job_id: u32,
        /// `None`: a future job, activated by SetNewPrevHash.
        min_ntime: Option<u32>,
        version: u32,
        merkle_root: [u8; 32],
    },
    NewExtendedJob {
        channel_id: u32,
        job_id: u32,
        min_ntime: Option<u32>,
        version: u32,
        version_rolling_allowed: bool,
        merkle_path: Vec<[u8; 32]>,
        coinbase_prefix: Vec<u8>,
        coinbase_suffix: Vec<u8>,
    },
    PrevHash {
        channel_id: u32,
        job_id: u32,
        prev_hash: [u8; 32],
        min_ntime: u32,
        nbits: u32,
    },
    SetTarget {
        channel_id: u32,
        target: [u8; 32],
    },
    SetExtranoncePrefix {
        channel_id: u32,
        prefix: Vec<u8>,
    },
    SharesAccepted {
        channel_id: u32,
        last_sequence_number: u32,
        count: u32,
    },
    ShareError {
        channel_id: u32,
        sequence_number: u32,
        code: String,
    },
    UpdateChannelError {
        channel_id: u32,
        code: String,
    },
    Reconnect {
        host: String,
        port: u16,
    },
    CloseChannel {
        channel_id: u32,
        reason: String,
    },
    /// A message hashrig does not use (named in the log).
    Other(String),
}

fn text(bytes: &[u8]) -> String {
    super::protocol::clip(&String::from_utf8_lossy(bytes), 200)
}

fn u256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let n = bytes.len().min(32);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

/// Decodes one frame's message (`ext_type` without the channel bit).
fn decode(ext_type: u16, msg_type: u8, payload: &mut [u8]) -> Result<V2In, String> {
    use stratum_core::common_messages_sv2 as common;
    let is_common = ext_type == 0
        && matches!(
            msg_type,
            common::MESSAGE_TYPE_SETUP_CONNECTION
                | common::MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS
                | common::MESSAGE_TYPE_SETUP_CONNECTION_ERROR
                | common::MESSAGE_TYPE_CHANNEL_ENDPOINT_CHANGED
                | common::MESSAGE_TYPE_RECONNECT
        );
    if is_common {
        let m = CommonMessages::try_from((msg_type, payload)).map_err(|e| {
            format!("a common message (type {msg_type:#04x}) that does not decode: {e:?}")
        })?;
        return Ok(match m {
            CommonMessages::SetupConnectionSuccess(s) => V2In::SetupSuccess { flags: s.flags },
            CommonMessages::SetupConnectionError(e) => V2In::SetupError {
                code: text(e.error_code.as_bytes()),
            },
            CommonMessages::Reconnect(r) => V2In::Reconnect {
                host: text(r.new_host.as_bytes()),
                port: r.new_port,
            },
            other => V2In::Other(format!("{other}")),
        });
    }
    if ext_type != 0 {
        return Ok(V2In::Other(format!(
            "extension {ext_type:#06x} message {msg_type:#04x}"
        )));
    }
    let m = Mining::try_from((msg_type, payload)).map_err(|e| {
        format!("message type {msg_type:#04x} is not a mining message hashrig can decode: {e:?}")
    })?;
    Ok(match m {
        Mining::OpenStandardMiningChannelSuccess(s) => V2In::ChannelOpened {
            request_id: s.request_id,
            channel_id: s.channel_id,
            target: u256(s.target.as_bytes()),
            extranonce_prefix: s.extranonce_prefix.as_bytes().to_vec(),
            extranonce_size: 0,
            group_channel_id: s.group_channel_id,
        },
        Mining::OpenExtendedMiningChannelSuccess(s) => V2In::ChannelOpened {
            request_id: s.request_id,
            channel_id: s.channel_id,
            target: u256(s.target.as_bytes()),
            extranonce_prefix: s.extranonce_prefix.as_bytes().to_vec(),
            extranonce_size: s.extranonce_size,
            group_channel_id: s.group_channel_id,
        },
        Mining::OpenMiningChannelError(e) => V2In::ChannelError {
            request_id: e.request_id,
            code: text(e.error_code.as_bytes()),
        },
        Mining::NewMiningJob(j) => V2In::NewJob {
            channel_id: j.channel_id,
            job_id: j.job_id,
            min_ntime: j.min_ntime.into_owned().into_inner(),
            version: j.version,
            merkle_root: u256(j.merkle_root.as_bytes()),
        },
        Mining::NewExtendedMiningJob(j) => V2In::NewExtendedJob {
            channel_id: j.channel_id,
            job_id: j.job_id,
            min_ntime: j.min_ntime.into_owned().into_inner(),
            version: j.version,
            version_rolling_allowed: j.version_rolling_allowed,
            merkle_path: j.merkle_path.iter_bytes().map(u256).collect(),
            coinbase_prefix: j.coinbase_tx_prefix.as_bytes().to_vec(),
            coinbase_suffix: j.coinbase_tx_suffix.as_bytes().to_vec(),
        },
        Mining::SetNewPrevHash(p) => V2In::PrevHash {
            channel_id: p.channel_id,
            job_id: p.job_id,
            prev_hash: u256(p.prev_hash.as_bytes()),
            min_ntime: p.min_ntime,
            nbits: p.nbits,
        },
        Mining::SetTarget(t) => V2In::SetTarget {
            channel_id: t.channel_id,
            target: u256(t.maximum_target.as_bytes()),
        },
        Mining::SetExtranoncePrefix(p) => V2In::SetExtranoncePrefix {
            channel_id: p.channel_id,
            prefix: p.extranonce_prefix.as_bytes().to_vec(),
        },
        Mining::SubmitSharesSuccess(s) => V2In::SharesAccepted {
            channel_id: s.channel_id,
            last_sequence_number: s.last_sequence_number,
            count: s.new_submits_accepted_count,
        },
        Mining::SubmitSharesError(e) => V2In::ShareError {
            channel_id: e.channel_id,
            sequence_number: e.sequence_number,
            code: text(e.error_code.as_bytes()),
        },
        Mining::UpdateChannelError(e) => V2In::UpdateChannelError {
            channel_id: e.channel_id,
            code: text(e.error_code.as_bytes()),
        },
        Mining::CloseChannel(c) => V2In::CloseChannel {
            channel_id: c.channel_id,
            reason: text(c.reason_code.as_bytes()),
        },
        other => V2In::Other(format!("{other}")),
    })
}

fn sv2<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e:?}")
}

/// The writing half: encrypts and sends messages.
pub struct V2Writer {
    socket: TcpStream,
    encoder: NoiseEncoder,
    state: TransportEncryptState,
}

/// The reading half: reads and decrypts frames.
pub struct V2Reader {
    socket: TcpStream,
    decoder: NoiseDecoder,
    state: Option<TransportDecryptState>,
}

/// Connects and does the Noise NX handshake: the pool's certificate must be signed by
/// `authority` and be inside its validity period.
pub fn connect(
    host: &str,
    port: u16,
    authority: AuthorityKey,
    timeout: Duration,
) -> Result<(V2Reader, V2Writer), String> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {host}: {e}"))?
        .collect();
    let mut last = format!("{host} resolves to no address");
    let mut socket = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                socket = Some(s);
                break;
            }
            Err(e) => last = format!("connecting to {addr}: {e}"),
        }
    }
    let mut socket = socket.ok_or(last)?;
    let _ = socket.set_nodelay(true);
    socket
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let initiator = Initiator::from_raw_k(authority.0).map_err(sv2("the authority key"))?;
    let mut encoder = NoiseEncoder::new();
    let mut decoder = NoiseDecoder::new();
    let (first, handshake) = Handshake::initiator(initiator)
        .step_0()
        .map_err(sv2("Noise handshake"))?;
    socket
        .write_all(encoder.encode_handshake(first).as_ref())
        .map_err(|e| format!("Noise handshake: {e}"))?;
    let reply = loop {
        let mut buf = vec![0u8; decoder.writable_len()];
        socket
            .read_exact(&mut buf)
            .map_err(|e| format!("Noise handshake: the pool did not answer ({e})"))?;
        decoder.writable().copy_from_slice(&buf);
        match decoder
            .next_handshake_frame::<codec_sv2::state::InitiatorSent>()
            .map_err(sv2("Noise handshake"))?
        {
            Decoded::Frame(frame) => break frame,
            Decoded::Incomplete(_) => {}
        }
    };
    let payload: [u8; INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE] = reply
        .payload()
        .try_into()
        .map_err(|_| "Noise handshake: the pool's answer has the wrong size".to_string())?;
    let transport = handshake.step_2(payload).map_err(|e| match e {
        codec_sv2::Error::NoiseSv2Error(stratum_core::noise_sv2::Error::InvalidCertificate(_)) => {
            format!("{UNTRUSTED} the authority key given, or is outside its validity period: no work is taken from it")
        }
        e => format!("Noise handshake: {e:?}"),
    })?;
    socket.set_read_timeout(None).map_err(|e| e.to_string())?;
    let (encrypt, decrypt) = transport.split();
    let reader = V2Reader {
        socket: socket.try_clone().map_err(|e| e.to_string())?,
        decoder,
        state: Some(decrypt),
    };
    Ok((
        reader,
        V2Writer {
            socket,
            encoder,
            state: encrypt,
        },
    ))
}

impl V2Writer {
    pub fn send(&mut self, message: AnyMessageOwned) -> Result<(), String> {
        let frame: MessageFrame<AnyMessageOwned> =
            message.try_into().map_err(sv2("framing a message"))?;
        let bytes = self
            .encoder
            .encode_transport(frame, &mut self.state)
            .map_err(sv2("encrypting a message"))?;
        self.socket
            .write_all(bytes.as_ref())
            .map_err(|e| format!("writing to the pool: {e}"))
    }

    pub fn close(&mut self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    /// SetupConnection for the mining protocol.
    pub fn setup(&mut self, host: &str, port: u16, flags: u32) -> Result<(), String> {
        let s = |v: &str| Str0255Owned::new(v.as_bytes().to_vec()).map_err(sv2("a string"));
        self.send(AnyMessageOwned::Common(
            CommonMessagesOwned::SetupConnection(SetupConnectionOwned {
                protocol: Protocol::MiningProtocol,
                min_version: 2,
                max_version: 2,
                flags,
                endpoint_host: s(&super::protocol::clip(host, 200))?,
                endpoint_port: port,
                vendor: s("hashrig")?,
                hardware_version: s("")?,
                firmware: s(env!("CARGO_PKG_VERSION"))?,
                device_id: s("")?,
            }),
        ))
    }

    pub fn open_channel(
        &mut self,
        kind: ChannelKind,
        request_id: u32,
        user: &str,
        hash_rate: f32,
    ) -> Result<(), String> {
        let user = Str0255Owned::new(super::protocol::clip(user, 200).into_bytes())
            .map_err(sv2("the user"))?;
        let max_target = U256Owned::from([0xff; 32]);
        let m = match kind {
            ChannelKind::Standard => {
                MiningOwned::OpenStandardMiningChannel(OpenStandardMiningChannelOwned {
                    request_id,
                    user_identity: user,
                    nominal_hash_rate: hash_rate,
                    max_target,
                })
            }
            ChannelKind::Extended => {
                MiningOwned::OpenExtendedMiningChannel(OpenExtendedMiningChannelOwned {
                    request_id,
                    user_identity: user,
                    nominal_hash_rate: hash_rate,
                    max_target,
                    min_extranonce_size: 4,
                })
            }
        };
        self.send(AnyMessageOwned::Mining(m))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn submit(
        &mut self,
        channel_id: u32,
        sequence_number: u32,
        job_id: u32,
        nonce: u32,
        ntime: u32,
        version: u32,
        extranonce: Option<&[u8]>,
    ) -> Result<(), String> {
        let m = match extranonce {
            None => MiningOwned::SubmitSharesStandard(SubmitSharesStandardOwned {
                channel_id,
                sequence_number,
                job_id,
                nonce,
                ntime,
                version,
            }),
            Some(e) => MiningOwned::SubmitSharesExtended(SubmitSharesExtendedOwned {
                channel_id,
                sequence_number,
                job_id,
                nonce,
                ntime,
                version,
                extranonce: B032Owned::new(e.to_vec()).map_err(sv2("the extranonce"))?,
            }),
        };
        self.send(AnyMessageOwned::Mining(m))
    }

    pub fn update_channel(&mut self, channel_id: u32, hash_rate: f32) -> Result<(), String> {
        self.send(AnyMessageOwned::Mining(MiningOwned::UpdateChannel(
            UpdateChannelOwned {
                channel_id,
                nominal_hash_rate: hash_rate,
                maximum_target: U256Owned::from([0xff; 32]),
            },
        )))
    }
}

impl V2Reader {
    /// The next message; `Err` ends the connection (closed, a frame that does not decrypt).
    /// A frame that decrypts but does not decode is `Ok(Err(reason))`: logged, skipped.
    pub fn message(&mut self) -> Result<Result<V2In, String>, String> {
        loop {
            let mut buf = vec![0u8; self.decoder.writable_len()];
            if let Err(e) = self.socket.read_exact(&mut buf) {
                return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    "the pool closed the connection".to_string()
                } else {
                    format!("reading from the pool: {e}")
                });
            }
            self.decoder.writable().copy_from_slice(&buf);
            let state = self
                .state
                .take()
                .ok_or("the connection's decryption state was lost")?;
            match self.decoder.next_transport_frame(state) {
                Ok(Decrypted::Frame(mut frame, state)) => {
                    self.state = Some(state);
                    let header = frame.header();
                    let (ext, kind) = (header.ext_type_without_channel_msg(), header.msg_type());
                    return Ok(decode(ext, kind, frame.payload()));
                }
                Ok(Decrypted::Incomplete(_, state)) => self.state = Some(state),
                Err(e) => {
                    return Err(format!(
                        "a frame from the pool that does not decrypt or frame ({e:?}); dropping the connection"
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_keys() {
        // The SRI examples' public authority key.
        let k: AuthorityKey = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"
            .parse()
            .unwrap();
        assert_ne!(k.0, [0; 32]);
        for bad in [
            "",
            "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH73",
            "1111111111",
            "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n",
        ] {
            assert!(bad.parse::<AuthorityKey>().is_err(), "{bad}");
        }
    }
}
