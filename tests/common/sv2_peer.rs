//! A scripted Stratum V2 pool for tests, on the SRI crates: a Noise responder with the SRI
//! example authority keys on 127.0.0.1, a standard channel, jobs, and shares it checks with
//! its own header assembly. Each test scripts how a connection misbehaves after the handshake.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::hashes::{sha256d, Hash};
use stratum_core::binary_sv2::{B032Owned, Str0255Owned, U256Owned};
use stratum_core::codec_sv2::{
    Decoded, Decrypted, Handshake, NoiseDecoder, NoiseEncoder, TransportDecryptState,
    TransportEncryptState,
};
use stratum_core::common_messages_sv2::SetupConnectionSuccess;
use stratum_core::framing_sv2::framing::{MessageFrame, SerializedFrame};
use stratum_core::mining_sv2::{
    NewMiningJobOwned, OpenStandardMiningChannelSuccessOwned, SetNewPrevHashOwned, SetTargetOwned,
    SubmitSharesErrorOwned, SubmitSharesSuccessOwned,
};
use stratum_core::noise_sv2::{Responder, ELLSWIFT_ENCODING_SIZE};
use stratum_core::parsers_sv2::{
    AnyMessageOwned, CommonMessages, CommonMessagesOwned, Mining, MiningOwned,
};

pub const AUTHORITY_PUBLIC: &str = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
const AUTHORITY_SECRET: &str = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n";
pub const CHANNEL: u32 = 5;
const BITS: u32 = 0x207f_ffff;

/// What the peer saw over all connections.
#[derive(Default)]
pub struct Record {
    pub connections: AtomicUsize,
    pub accepted: AtomicUsize,
    pub refused: Mutex<Vec<String>>,
    /// The nominal hash rate of each OpenStandardMiningChannel and UpdateChannel, in order.
    pub rates: Mutex<Vec<f32>>,
}

pub struct Peer {
    pub port: u16,
    pub record: Arc<Record>,
    stop: Arc<AtomicBool>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Peer {
    /// Serves connection `n` with `behave` after the Noise handshake.
    pub fn start(behave: fn(usize, &mut Conn)) -> Peer {
        Self::start_signed(behave, false)
    }

    /// With `expired`, the certificate it shows ran out an hour ago (signed by the right
    /// authority, outside its validity period).
    pub fn start_signed(behave: fn(usize, &mut Conn), expired: bool) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let record = Arc::new(Record::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (r, st) = (Arc::clone(&record), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((socket, _)) => {
                        let n = r.connections.fetch_add(1, Ordering::SeqCst);
                        let r = Arc::clone(&r);
                        std::thread::spawn(move || {
                            if let Some(mut c) = Conn::accept(socket, r, expired) {
                                behave(n, &mut c);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Peer { port, record, stop }
    }

    pub fn url(&self) -> String {
        format!("stratum2+tcp://127.0.0.1:{}/{AUTHORITY_PUBLIC}", self.port)
    }
}

fn key(text: &str, skip: usize) -> [u8; 32] {
    bitcoin::base58::decode_check(text).unwrap()[skip..]
        .try_into()
        .unwrap()
}

/// One connection, from the pool's side.
pub struct Conn {
    socket: TcpStream,
    encoder: NoiseEncoder,
    decoder: NoiseDecoder,
    encrypt: TransportEncryptState,
    decrypt: Option<TransportDecryptState>,
    record: Arc<Record>,
    pub target: [u8; 32],
    jobs: Vec<(u32, [u8; 32], u32)>,
    prev: [u8; 32],
    ntime: u32,
}

impl Conn {
    fn accept(mut socket: TcpStream, record: Arc<Record>, expired: bool) -> Option<Conn> {
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let responder = Responder::from_authority_kp(
            &key(AUTHORITY_PUBLIC, 2),
            &key(AUTHORITY_SECRET, 0),
            Duration::from_secs(3600),
        )
        .unwrap();
        let mut encoder = NoiseEncoder::new();
        let mut decoder = NoiseDecoder::new();
        let first = loop {
            let mut buf = vec![0u8; decoder.writable_len()];
            socket.read_exact(&mut buf).ok()?;
            decoder.writable().copy_from_slice(&buf);
            match decoder.next_handshake_frame::<Responder>().ok()? {
                Decoded::Frame(f) => break f,
                Decoded::Incomplete(_) => {}
            }
        };
        let payload: [u8; ELLSWIFT_ENCODING_SIZE] = first.payload().try_into().ok()?;
        let (second, transport) = if expired {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as u32;
            Handshake::responder(responder)
                .step_1_with_now_rng(payload, now - 7200, &mut rand::thread_rng())
                .ok()?
        } else {
            Handshake::responder(responder).step_1(payload).ok()?
        };
        socket
            .write_all(encoder.encode_handshake(second).as_ref())
            .ok()?;
        let (encrypt, decrypt) = transport.split();
        let mut target = [0xffu8; 32];
        // 2^233 - 1: difficulty ~0.004, a CPU thread finds several shares a second.
        target[29..].copy_from_slice(&[0x01, 0x00, 0x00]);
        Some(Conn {
            socket,
            encoder,
            decoder,
            encrypt,
            decrypt: Some(decrypt),
            record,
            target,
            jobs: Vec::new(),
            prev: [0x42; 32],
            ntime: 0x6600_0000,
        })
    }

    /// The next message: (message type, decoded) or `None` when the miner went away.
    pub fn recv(&mut self) -> Option<AnyMessageOwned> {
        loop {
            let mut buf = vec![0u8; self.decoder.writable_len()];
            self.socket.read_exact(&mut buf).ok()?;
            self.decoder.writable().copy_from_slice(&buf);
            match self
                .decoder
                .next_transport_frame(self.decrypt.take()?)
                .ok()?
            {
                Decrypted::Frame(mut frame, state) => {
                    self.decrypt = Some(state);
                    let h = frame.header();
                    let kind = h.msg_type();
                    if h.ext_type_without_channel_msg() != 0 {
                        continue;
                    }
                    if let Ok(m) = CommonMessages::try_from((kind, frame.payload())) {
                        return Some(AnyMessageOwned::Common(m.into_owned()));
                    }
                    let m = Mining::try_from((kind, frame.payload())).ok()?;
                    return Some(AnyMessageOwned::Mining(m.into_owned()));
                }
                Decrypted::Incomplete(_, state) => self.decrypt = Some(state),
            }
        }
    }

    pub fn send(&mut self, message: AnyMessageOwned) {
        let frame: MessageFrame<AnyMessageOwned> = message.try_into().unwrap();
        let bytes = self
            .encoder
            .encode_transport(frame, &mut self.encrypt)
            .unwrap();
        let _ = self.socket.write_all(bytes.as_ref());
    }

    /// A frame of the given type whose payload is `payload`, whatever it is.
    pub fn send_raw(&mut self, ext_type: u16, msg_type: u8, payload: &[u8]) {
        let mut bytes = ext_type.to_le_bytes().to_vec();
        bytes.push(msg_type);
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes()[..3]);
        bytes.extend_from_slice(payload);
        let frame = SerializedFrame::from_bytes(bytes).unwrap();
        let out = self
            .encoder
            .encode_transport(frame, &mut self.encrypt)
            .unwrap();
        let _ = self.socket.write_all(out.as_ref());
    }

    fn mining(&mut self, m: MiningOwned) {
        self.send(AnyMessageOwned::Mining(m));
    }

    /// SetupConnection and OpenStandardMiningChannel, answered. False if the miner left.
    pub fn open(&mut self) -> bool {
        match self.recv() {
            Some(AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(_))) => {}
            _ => return false,
        }
        self.send(AnyMessageOwned::Common(
            CommonMessagesOwned::SetupConnectionSuccess(SetupConnectionSuccess {
                used_version: 2,
                flags: 0,
            }),
        ));
        let request_id = match self.recv() {
            Some(AnyMessageOwned::Mining(MiningOwned::OpenStandardMiningChannel(o))) => {
                self.record.rates.lock().unwrap().push(o.nominal_hash_rate);
                o.request_id
            }
            _ => return false,
        };
        self.mining(MiningOwned::OpenStandardMiningChannelSuccess(
            OpenStandardMiningChannelSuccessOwned {
                request_id,
                channel_id: CHANNEL,
                target: U256Owned::from(self.target),
                extranonce_prefix: B032Owned::new(vec![0, 0, 0, 1]).unwrap(),
                group_channel_id: 0,
            },
        ));
        true
    }

    /// A future job and the SetNewPrevHash that makes it the one to mine.
    pub fn job(&mut self, id: u32) {
        let mut root = [0u8; 32];
        root[..4].copy_from_slice(&id.to_le_bytes());
        root[31] = 0x99;
        self.ntime += 1;
        self.prev[0] = id as u8;
        self.jobs.clear();
        self.jobs.push((id, root, 0x2000_0000));
        self.mining(MiningOwned::NewMiningJob(NewMiningJobOwned {
            channel_id: CHANNEL,
            job_id: id,
            min_ntime: stratum_core::binary_sv2::Sv2OptionOwned::new(None),
            version: 0x2000_0000,
            merkle_root: U256Owned::from(root),
        }));
        self.mining(MiningOwned::SetNewPrevHash(SetNewPrevHashOwned {
            channel_id: CHANNEL,
            job_id: id,
            prev_hash: U256Owned::from(self.prev),
            min_ntime: self.ntime,
            nbits: BITS,
        }));
    }

    pub fn set_target(&mut self, channel_id: u32) {
        self.mining(MiningOwned::SetTarget(SetTargetOwned {
            channel_id,
            maximum_target: U256Owned::from(self.target),
        }));
    }

    /// Answers shares (checked) until the miner leaves.
    pub fn serve(&mut self) {
        while let Some(m) = self.recv() {
            if let AnyMessageOwned::Mining(MiningOwned::UpdateChannel(u)) = &m {
                self.record.rates.lock().unwrap().push(u.nominal_hash_rate);
            }
            let AnyMessageOwned::Mining(MiningOwned::SubmitSharesStandard(s)) = m else {
                continue;
            };
            let verdict = self.check(s.job_id, s.version, s.ntime, s.nonce);
            match verdict {
                Ok(()) => {
                    self.record.accepted.fetch_add(1, Ordering::SeqCst);
                    self.mining(MiningOwned::SubmitSharesSuccess(SubmitSharesSuccessOwned {
                        channel_id: CHANNEL,
                        last_sequence_number: s.sequence_number,
                        new_submits_accepted_count: 1,
                        new_shares_sum: 1,
                    }));
                }
                Err(code) => {
                    self.record.refused.lock().unwrap().push(code.to_string());
                    self.mining(MiningOwned::SubmitSharesError(SubmitSharesErrorOwned {
                        channel_id: CHANNEL,
                        sequence_number: s.sequence_number,
                        error_code: Str0255Owned::new(code.as_bytes().to_vec()).unwrap(),
                    }));
                }
            }
        }
    }

    fn check(&self, job: u32, version: u32, ntime: u32, nonce: u32) -> Result<(), &'static str> {
        let (_, root, job_version) = self
            .jobs
            .iter()
            .find(|(id, _, _)| *id == job)
            .ok_or("invalid-job-id")?;
        if (version ^ job_version) & !0x1fff_e000 != 0 {
            return Err("invalid-non-rollable-version-bit");
        }
        if ntime < self.ntime {
            return Err("ntime-too-old");
        }
        let mut header = Vec::with_capacity(80);
        header.extend_from_slice(&version.to_le_bytes());
        header.extend_from_slice(&self.prev);
        header.extend_from_slice(root);
        header.extend_from_slice(&ntime.to_le_bytes());
        header.extend_from_slice(&BITS.to_le_bytes());
        header.extend_from_slice(&nonce.to_le_bytes());
        let hash = sha256d::Hash::hash(&header).to_byte_array();
        // Little-endian 256-bit compare, most significant byte first.
        for i in (0..32).rev() {
            if hash[i] != self.target[i] {
                return if hash[i] < self.target[i] {
                    Ok(())
                } else {
                    Err("difficulty-too-low")
                };
            }
        }
        Ok(())
    }

    pub fn close(&mut self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}
