//! The Stratum V2 wire on the SRI crates (`stratum-core`: codec, framing, Noise, common and
//! mining messages): the Noise NX handshake on a blocking socket, then a reading half that
//! decrypts and decodes frames into [`Frame`]s, and a writing half that frames and encrypts
//! messages (the connection's writer thread). The messages hashrig sends are built here too.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use stratum_core::binary_sv2::{B016MOwned, B032Owned, Seq064KOwned, Str0255Owned, U256Owned};
use stratum_core::codec_sv2::{
    self, Decoded, Decrypted, Handshake, NoiseDecoder, NoiseEncoder, TransportDecryptState,
    TransportEncryptState,
};
use stratum_core::common_messages_sv2::{Protocol, SetupConnectionOwned};
use stratum_core::framing_sv2::framing::MessageFrame;
use stratum_core::job_declaration_sv2::{
    AllocateMiningJobTokenOwned, DeclareMiningJobOwned, ProvideMissingTransactionsSuccessOwned,
    PushSolutionOwned,
};
use stratum_core::mining_sv2::{
    OpenExtendedMiningChannelOwned, OpenStandardMiningChannelOwned, SetCustomMiningJobOwned,
    SubmitSharesExtendedOwned, SubmitSharesStandardOwned, UpdateChannelOwned,
};
use stratum_core::noise_sv2::{Initiator, INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE};
use stratum_core::parsers_sv2::{
    AnyMessageOwned, CommonMessages, CommonMessagesOwned, JobDeclaration, JobDeclarationOwned,
    Mining, MiningOwned,
};

use super::{AuthorityKey, ChannelKind};
use crate::source::stratum::error::StratumError;
use crate::source::stratum::transport::dial;

/// A decoded frame from a V2 pool.
#[derive(Clone, Debug)]
pub enum Frame {
    Common(CommonMessagesOwned),
    Mining(MiningOwned),
    /// A Job Declaration message (from a JDS).
    JobDeclaration(JobDeclarationOwned),
    /// A message of an extension hashrig does not speak (named in the log, skipped).
    Extension {
        ext_type: u16,
        msg_type: u8,
    },
}

/// A frame that decrypted but did not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FrameError(pub String);

/// Decodes one frame's message (`ext_type` without the channel bit). Pure: the fuzzers call
/// it with arbitrary bytes.
pub fn decode(ext_type: u16, msg_type: u8, payload: &mut [u8]) -> Result<Frame, FrameError> {
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
            FrameError(format!(
                "a common message (type {msg_type:#04x}) that does not decode: {e:?}"
            ))
        })?;
        return Ok(Frame::Common(m.into_owned()));
    }
    if ext_type != 0 {
        return Ok(Frame::Extension { ext_type, msg_type });
    }
    // Job Declaration messages are 0x50..=0x60; mining ones below 0x50.
    if (0x50..=0x6f).contains(&msg_type) {
        let m = JobDeclaration::try_from((msg_type, payload)).map_err(|e| {
            FrameError(format!(
                "message type {msg_type:#04x} is not a job declaration message hashrig can decode: {e:?}"
            ))
        })?;
        return Ok(Frame::JobDeclaration(m.into_owned()));
    }
    let m = Mining::try_from((msg_type, payload)).map_err(|e| {
        FrameError(format!(
            "message type {msg_type:#04x} is not a mining message hashrig can decode: {e:?}"
        ))
    })?;
    Ok(Frame::Mining(m.into_owned()))
}

fn noise<E: std::fmt::Debug>(e: E) -> StratumError {
    StratumError::Noise(crate::ui::output::clip(&format!("{e:?}"), 200))
}

/// The writing half: frames, encrypts and sends messages.
pub struct V2Writer {
    socket: TcpStream,
    encoder: NoiseEncoder,
    state: TransportEncryptState,
}

/// The reading half: reads, decrypts and decodes frames (one frame at most 16 MiB, as the
/// framing allows).
pub struct V2Reader {
    socket: TcpStream,
    decoder: NoiseDecoder,
    state: Option<TransportDecryptState>,
}

/// Connects and does the Noise NX handshake within `timeout`: the pool's certificate must be
/// signed by `authority` and be inside its validity period.
pub fn connect(
    host: &str,
    port: u16,
    authority: AuthorityKey,
    timeout: Duration,
) -> Result<(V2Reader, V2Writer), StratumError> {
    let mut socket = dial(host, port, timeout)?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(StratumError::Socket)?;
    let initiator = Initiator::from_raw_k(authority.0).map_err(noise)?;
    let mut encoder = NoiseEncoder::new();
    let mut decoder = NoiseDecoder::new();
    let (first, handshake) = Handshake::initiator(initiator).step_0().map_err(noise)?;
    socket
        .write_all(encoder.encode_handshake(first).as_ref())
        .map_err(StratumError::Write)?;
    let reply = loop {
        let mut buf = vec![0u8; decoder.writable_len()];
        socket.read_exact(&mut buf).map_err(|e| {
            StratumError::Noise(format!("the pool did not answer the handshake ({e})"))
        })?;
        decoder.writable().copy_from_slice(&buf);
        match decoder
            .next_handshake_frame::<codec_sv2::state::InitiatorSent>()
            .map_err(noise)?
        {
            Decoded::Frame(frame) => break frame,
            Decoded::Incomplete(_) => {}
        }
    };
    let payload: [u8; INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE] = reply
        .payload()
        .try_into()
        .map_err(|_| StratumError::Noise("the pool's answer has the wrong size".to_string()))?;
    let transport = handshake.step_2(payload).map_err(|e| match e {
        codec_sv2::Error::NoiseSv2Error(stratum_core::noise_sv2::Error::InvalidCertificate(_)) => {
            StratumError::Untrusted
        }
        e => noise(e),
    })?;
    socket
        .set_read_timeout(None)
        .map_err(StratumError::Socket)?;
    let (encrypt, decrypt) = transport.split();
    let reader = V2Reader {
        socket: socket.try_clone().map_err(StratumError::Socket)?,
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
    /// A handle on the socket, to shut it down from another thread.
    pub fn socket(&self) -> std::io::Result<TcpStream> {
        self.socket.try_clone()
    }

    pub fn send(&mut self, message: AnyMessageOwned) -> Result<(), StratumError> {
        let frame: MessageFrame<AnyMessageOwned> = message
            .try_into()
            .map_err(|e| StratumError::Frame(format!("framing a message: {e:?}")))?;
        let bytes = self
            .encoder
            .encode_transport(frame, &mut self.state)
            .map_err(|e| StratumError::Frame(format!("encrypting a message: {e:?}")))?;
        self.socket
            .write_all(bytes.as_ref())
            .map_err(StratumError::Write)
    }

    pub fn close(&mut self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

impl V2Reader {
    /// The next frame; `Err` ends the connection (closed, a frame that does not decrypt).
    /// A frame that decrypts but does not decode is `Ok(Err(_))`: the session decides.
    pub fn frame(&mut self) -> Result<Result<Frame, FrameError>, StratumError> {
        loop {
            let mut buf = vec![0u8; self.decoder.writable_len()];
            if let Err(e) = self.socket.read_exact(&mut buf) {
                return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    StratumError::Closed
                } else {
                    StratumError::Read(e)
                });
            }
            self.decoder.writable().copy_from_slice(&buf);
            let state = self
                .state
                .take()
                .ok_or_else(|| StratumError::Frame("the decryption state was lost".into()))?;
            match self.decoder.next_transport_frame(state) {
                Ok(Decrypted::Frame(mut frame, state)) => {
                    self.state = Some(state);
                    let header = frame.header();
                    let (ext, kind) = (header.ext_type_without_channel_msg(), header.msg_type());
                    return Ok(decode(ext, kind, frame.payload()));
                }
                Ok(Decrypted::Incomplete(_, state)) => self.state = Some(state),
                Err(e) => return Err(StratumError::Frame(format!("{e:?}"))),
            }
        }
    }
}

/// A string field of at most 255 bytes (cut at a character boundary; never fails).
fn str0255(text: &str) -> Str0255Owned {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Str0255Owned::new(text.as_bytes()[..end].to_vec()).expect("cut to 255 bytes above")
}

/// The messages hashrig sends.
pub mod message {
    use super::*;

    /// SetupConnection for the mining protocol.
    pub fn setup(host: &str, port: u16, flags: u32) -> AnyMessageOwned {
        setup_for(Protocol::MiningProtocol, host, port, flags)
    }

    /// SetupConnection for `protocol`.
    pub fn setup_for(protocol: Protocol, host: &str, port: u16, flags: u32) -> AnyMessageOwned {
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(SetupConnectionOwned {
            protocol,
            min_version: 2,
            max_version: 2,
            flags,
            endpoint_host: str0255(host),
            endpoint_port: port,
            vendor: str0255("hashrig"),
            hardware_version: str0255(""),
            firmware: str0255(env!("CARGO_PKG_VERSION")),
            device_id: str0255(""),
        }))
    }

    pub fn open_channel(
        kind: ChannelKind,
        request_id: u32,
        user: &str,
        hash_rate: f32,
    ) -> AnyMessageOwned {
        let user_identity = str0255(user);
        let max_target = U256Owned::from([0xff; 32]);
        AnyMessageOwned::Mining(match kind {
            ChannelKind::Standard => {
                MiningOwned::OpenStandardMiningChannel(OpenStandardMiningChannelOwned {
                    request_id,
                    user_identity,
                    nominal_hash_rate: hash_rate,
                    max_target,
                })
            }
            ChannelKind::Extended | ChannelKind::Custom => {
                MiningOwned::OpenExtendedMiningChannel(OpenExtendedMiningChannelOwned {
                    request_id,
                    user_identity,
                    nominal_hash_rate: hash_rate,
                    max_target,
                    min_extranonce_size: 4,
                })
            }
        })
    }

    /// SubmitShares.Standard, or .Extended with `extranonce` (at most 32 bytes).
    #[allow(clippy::too_many_arguments)]
    pub fn submit(
        channel_id: u32,
        sequence_number: u32,
        job_id: u32,
        nonce: u32,
        ntime: u32,
        version: u32,
        extranonce: Option<&[u8]>,
    ) -> AnyMessageOwned {
        AnyMessageOwned::Mining(match extranonce {
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
                extranonce: B032Owned::new(e[..e.len().min(32)].to_vec()).expect("cut to 32 bytes"),
            }),
        })
    }

    pub fn update_channel(channel_id: u32, hash_rate: f32) -> AnyMessageOwned {
        AnyMessageOwned::Mining(MiningOwned::UpdateChannel(UpdateChannelOwned {
            channel_id,
            nominal_hash_rate: hash_rate,
            maximum_target: U256Owned::from([0xff; 32]),
        }))
    }

    /// AllocateMiningJobToken (Job Declaration).
    pub fn allocate_token(user: &str, request_id: u32) -> AnyMessageOwned {
        AnyMessageOwned::JobDeclaration(JobDeclarationOwned::AllocateMiningJobToken(
            AllocateMiningJobTokenOwned {
                user_identifier: str0255(user),
                request_id,
            },
        ))
    }

    pub fn declare(m: DeclareMiningJobOwned) -> AnyMessageOwned {
        AnyMessageOwned::JobDeclaration(JobDeclarationOwned::DeclareMiningJob(m))
    }

    /// ProvideMissingTransactions.Success; `None` when the transactions do not fit a message
    /// (65535 of at most 16 MiB each).
    pub fn provide_missing(request_id: u32, transactions: Vec<Vec<u8>>) -> Option<AnyMessageOwned> {
        let list = transactions
            .into_iter()
            .map(|t| B016MOwned::new(t).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(AnyMessageOwned::JobDeclaration(
            JobDeclarationOwned::ProvideMissingTransactionsSuccess(
                ProvideMissingTransactionsSuccessOwned {
                    request_id,
                    transaction_list: Seq064KOwned::new(list).ok()?,
                },
            ),
        ))
    }

    /// PushSolution (Job Declaration): a block found on a declared job, for the JDS to
    /// propagate. `None` when the extranonce is longer than 32 bytes.
    pub fn push_solution(
        extranonce: Vec<u8>,
        header: &crate::chain::header::Header,
    ) -> Option<AnyMessageOwned> {
        use bitcoin::hashes::Hash;
        let h = header.to_bitcoin();
        Some(AnyMessageOwned::JobDeclaration(
            JobDeclarationOwned::PushSolution(PushSolutionOwned {
                extranonce: B032Owned::new(extranonce).ok()?,
                prev_hash: U256Owned::from(h.prev_blockhash.to_byte_array()),
                nonce: h.nonce,
                ntime: h.time,
                nbits: h.bits.to_consensus(),
                version: h.version.to_consensus() as u32,
            }),
        ))
    }

    pub fn set_custom_job(m: SetCustomMiningJobOwned) -> AnyMessageOwned {
        AnyMessageOwned::Mining(MiningOwned::SetCustomMiningJob(m))
    }
}
