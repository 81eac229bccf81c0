// scrypt(N = 1024, r = 1, p = 1) of an 80-byte block header, one hash per invocation: the same
// three steps as the CPU kernels (src/algo/scrypt.rs), with the same per-job precomputation.
//
//   1. B = PBKDF2-HMAC-SHA256(header, header, 1, 128): the HMAC key is SHA-256(header), whose
//      first block (the header's first 64 bytes) the host compresses once per job (`midstate`);
//      the salt's first block is shared by the four HMAC blocks.
//   2. ROMix(B): 1024 BlockMix(Salsa20/8) steps writing the scratchpad, 1024 reading it back.
//   3. PBKDF2-HMAC-SHA256(header, B', 1, 32): the scrypt hash.
//
// The scratchpad is one storage buffer for the whole dispatch. Entry i's k-th 16-byte piece of
// invocation t is at vec4 index (i * 8 + k) * params.stride + t, so neighbouring invocations
// touch neighbouring addresses (coalesced on GPUs). With a lookup gap g > 1 only every g-th entry
// is stored (g times less memory); a read of entry j loads entry j - j % g and recomputes the
// j % g BlockMix steps after it.

// Mirrors `ScryptParams` in src/backend/gpu/scrypt.rs (#[repr(C)], every field a u32; a test
// compares the offsets). Arrays of u32 in a uniform need a 16-byte stride: vec4s.
struct Params {
    // SHA-256 state after the header's first 64 bytes.
    midstate: array<vec4<u32>, 2>,
    // The header's 20 words, big-endian as SHA-256 reads them (word 19, the nonce, is replaced).
    header: array<vec4<u32>, 5>,
    // Share target as little-endian 32-bit words: word 7 is the most significant.
    target_words: array<vec4<u32>, 2>,
    // First nonce of this dispatch, and how many nonces it covers.
    nonce_base: u32,
    count: u32,
    // Number of result slots in `results`.
    capacity: u32,
    // Invocations the scratchpad is laid out for (its stride), and the lookup gap.
    stride: u32,
    gap: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

// As in sha256d.wgsl: `count` is bumped for every hit; `count > capacity` means overflow. In
// the digests entry point, invocation t writes its 8 hash words at nonces[8 * t ..].
struct Results {
    count: atomic<u32>,
    nonces: array<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> results: Results;
@group(0) @binding(2) var<storage, read_write> scratch: array<vec4<u32>>;

// Private, not const: indexed at run time (naga spills a const array anyway).
var<private> K: array<u32, 64> = array<u32, 64>(
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
);

var<private> IV: array<u32, 8> = array<u32, 8>(
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
);

fn rotr(x: u32, n: u32) -> u32 {
    return (x >> n) | (x << (32u - n));
}

fn rotl(x: u32, n: u32) -> u32 {
    return (x << n) | (x >> (32u - n));
}

fn bswap(x: u32) -> u32 {
    return (x << 24u) | ((x << 8u) & 0x00ff0000u) | ((x >> 8u) & 0x0000ff00u) | (x >> 24u);
}

// One SHA-256 compression of the 16-word block `w` into `state`.
fn compress(state: array<u32, 8>, block: array<u32, 16>) -> array<u32, 8> {
    var w: array<u32, 64>;
    for (var i = 0u; i < 16u; i++) {
        w[i] = block[i];
    }
    for (var i = 16u; i < 64u; i++) {
        let s0 = rotr(w[i - 15u], 7u) ^ rotr(w[i - 15u], 18u) ^ (w[i - 15u] >> 3u);
        let s1 = rotr(w[i - 2u], 17u) ^ rotr(w[i - 2u], 19u) ^ (w[i - 2u] >> 10u);
        w[i] = w[i - 16u] + s0 + w[i - 7u] + s1;
    }
    var a = state[0];
    var b = state[1];
    var c = state[2];
    var d = state[3];
    var e = state[4];
    var f = state[5];
    var g = state[6];
    var h = state[7];
    for (var i = 0u; i < 64u; i++) {
        let t1 = h + (rotr(e, 6u) ^ rotr(e, 11u) ^ rotr(e, 25u)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        let t2 = (rotr(a, 2u) ^ rotr(a, 13u) ^ rotr(a, 22u)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    return array<u32, 8>(
        state[0] + a, state[1] + b, state[2] + c, state[3] + d,
        state[4] + e, state[5] + f, state[6] + g, state[7] + h,
    );
}

fn header_word(i: u32) -> u32 {
    return params.header[i / 4u][i % 4u];
}

// The header's last 16 bytes with `nonce` (big-endian words 16..19).
fn tail(nonce: u32) -> array<u32, 4> {
    return array<u32, 4>(header_word(16u), header_word(17u), header_word(18u), bswap(nonce));
}

// SHA-256(header) from the midstate: the HMAC key (32 bytes, as 8 big-endian words).
fn hmac_key(t: array<u32, 4>) -> array<u32, 8> {
    var mid: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
        mid[i] = params.midstate[i / 4u][i % 4u];
    }
    // 16 header bytes, 0x80, zeros, the length 640 bits.
    return compress(mid, array<u32, 16>(t[0], t[1], t[2], t[3], 0x80000000u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 640u));
}

// The states after HMAC's inner (0x36) and outer (0x5c) pad blocks.
fn pads(key: array<u32, 8>, pad_byte: u32) -> array<u32, 8> {
    let x = pad_byte * 0x01010101u;
    var block: array<u32, 16>;
    for (var i = 0u; i < 16u; i++) {
        block[i] = x;
    }
    for (var i = 0u; i < 8u; i++) {
        block[i] = key[i] ^ x;
    }
    return compress(IV, block);
}

// HMAC's outer hash of the 32-byte inner digest.
fn outer(opad: array<u32, 8>, inner: array<u32, 8>) -> array<u32, 8> {
    return compress(opad, array<u32, 16>(
        inner[0], inner[1], inner[2], inner[3], inner[4], inner[5], inner[6], inner[7],
        0x80000000u, 0u, 0u, 0u, 0u, 0u, 0u, 768u,
    ));
}

// Salsa20/8 of `b ^ x` (the scrypt core), returning the new block.
fn salsa(b: array<u32, 16>, x: array<u32, 16>) -> array<u32, 16> {
    var i: array<u32, 16>;
    for (var k = 0u; k < 16u; k++) {
        i[k] = b[k] ^ x[k];
    }
    var x0 = i[0]; var x1 = i[1]; var x2 = i[2]; var x3 = i[3];
    var x4 = i[4]; var x5 = i[5]; var x6 = i[6]; var x7 = i[7];
    var x8 = i[8]; var x9 = i[9]; var x10 = i[10]; var x11 = i[11];
    var x12 = i[12]; var x13 = i[13]; var x14 = i[14]; var x15 = i[15];
    for (var r = 0u; r < 4u; r++) {
        // Columns.
        x4 ^= rotl(x0 + x12, 7u); x8 ^= rotl(x4 + x0, 9u); x12 ^= rotl(x8 + x4, 13u); x0 ^= rotl(x12 + x8, 18u);
        x9 ^= rotl(x5 + x1, 7u); x13 ^= rotl(x9 + x5, 9u); x1 ^= rotl(x13 + x9, 13u); x5 ^= rotl(x1 + x13, 18u);
        x14 ^= rotl(x10 + x6, 7u); x2 ^= rotl(x14 + x10, 9u); x6 ^= rotl(x2 + x14, 13u); x10 ^= rotl(x6 + x2, 18u);
        x3 ^= rotl(x15 + x11, 7u); x7 ^= rotl(x3 + x15, 9u); x11 ^= rotl(x7 + x3, 13u); x15 ^= rotl(x11 + x7, 18u);
        // Rows.
        x1 ^= rotl(x0 + x3, 7u); x2 ^= rotl(x1 + x0, 9u); x3 ^= rotl(x2 + x1, 13u); x0 ^= rotl(x3 + x2, 18u);
        x6 ^= rotl(x5 + x4, 7u); x7 ^= rotl(x6 + x5, 9u); x4 ^= rotl(x7 + x6, 13u); x5 ^= rotl(x4 + x7, 18u);
        x11 ^= rotl(x10 + x9, 7u); x8 ^= rotl(x11 + x10, 9u); x9 ^= rotl(x8 + x11, 13u); x10 ^= rotl(x9 + x8, 18u);
        x12 ^= rotl(x15 + x14, 7u); x13 ^= rotl(x12 + x15, 9u); x14 ^= rotl(x13 + x12, 13u); x15 ^= rotl(x14 + x13, 18u);
    }
    return array<u32, 16>(
        i[0] + x0, i[1] + x1, i[2] + x2, i[3] + x3, i[4] + x4, i[5] + x5, i[6] + x6, i[7] + x7,
        i[8] + x8, i[9] + x9, i[10] + x10, i[11] + x11, i[12] + x12, i[13] + x13, i[14] + x14, i[15] + x15,
    );
}

struct Block {
    lo: array<u32, 16>,
    hi: array<u32, 16>,
}

fn block_mix(x: Block) -> Block {
    let lo = salsa(x.lo, x.hi);
    let hi = salsa(x.hi, lo);
    return Block(lo, hi);
}

fn store(t: u32, entry: u32, x: Block) {
    let base = entry * 8u;
    for (var k = 0u; k < 4u; k++) {
        scratch[(base + k) * params.stride + t] = vec4<u32>(x.lo[4u * k], x.lo[4u * k + 1u], x.lo[4u * k + 2u], x.lo[4u * k + 3u]);
        scratch[(base + 4u + k) * params.stride + t] = vec4<u32>(x.hi[4u * k], x.hi[4u * k + 1u], x.hi[4u * k + 2u], x.hi[4u * k + 3u]);
    }
}

fn load(t: u32, entry: u32) -> Block {
    let base = entry * 8u;
    var b: Block;
    for (var k = 0u; k < 4u; k++) {
        let l = scratch[(base + k) * params.stride + t];
        let h = scratch[(base + 4u + k) * params.stride + t];
        b.lo[4u * k] = l.x; b.lo[4u * k + 1u] = l.y; b.lo[4u * k + 2u] = l.z; b.lo[4u * k + 3u] = l.w;
        b.hi[4u * k] = h.x; b.hi[4u * k + 1u] = h.y; b.hi[4u * k + 2u] = h.z; b.hi[4u * k + 3u] = h.w;
    }
    return b;
}

// The scrypt hash of the header with `nonce`, invocation `t`'s scratchpad: 8 words, the
// SHA-256 state of the last HMAC (big-endian words of the 32-byte hash).
fn scrypt_hash(t: u32, nonce: u32) -> array<u32, 8> {
    let tl = tail(nonce);
    let key = hmac_key(tl);
    let ipad = pads(key, 0x36u);
    let opad = pads(key, 0x5cu);
    // Step 1: the inner hash's first two blocks are the pad and the header's first 64 bytes.
    var head: array<u32, 16>;
    for (var i = 0u; i < 16u; i++) {
        head[i] = header_word(i);
    }
    let salted = compress(ipad, head);
    var x: Block;
    for (var n = 1u; n <= 4u; n++) {
        // 16 header bytes, INT(n), 0x80, zeros, the length (64 + 80 + 4) * 8 = 1184 bits.
        let inner = compress(salted, array<u32, 16>(tl[0], tl[1], tl[2], tl[3], n, 0x80000000u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 1184u));
        let o = outer(opad, inner);
        // B's words are little-endian: byte-swap SHA-256's big-endian output.
        for (var k = 0u; k < 8u; k++) {
            let word = (n - 1u) * 8u + k;
            if word < 16u {
                x.lo[word] = bswap(o[k]);
            } else {
                x.hi[word - 16u] = bswap(o[k]);
            }
        }
    }
    // Step 2: ROMix.
    let gap = max(params.gap, 1u);
    for (var i = 0u; i < 1024u; i++) {
        if i % gap == 0u {
            store(t, i / gap, x);
        }
        x = block_mix(x);
    }
    for (var i = 0u; i < 1024u; i++) {
        let j = x.hi[0] & 1023u;
        var v = load(t, j / gap);
        for (var s = 0u; s < j % gap; s++) {
            v = block_mix(v);
        }
        for (var k = 0u; k < 16u; k++) {
            x.lo[k] ^= v.lo[k];
            x.hi[k] ^= v.hi[k];
        }
        x = block_mix(x);
    }
    // Step 3: HMAC(key, B' || INT(1)): B' is 128 bytes (two blocks), then INT(1), 0x80, the
    // length (64 + 128 + 4) * 8 = 1568 bits.
    var b1: array<u32, 16>;
    var b2: array<u32, 16>;
    for (var k = 0u; k < 16u; k++) {
        b1[k] = bswap(x.lo[k]);
        b2[k] = bswap(x.hi[k]);
    }
    let s1 = compress(compress(ipad, b1), b2);
    let inner = compress(s1, array<u32, 16>(1u, 0x80000000u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 1568u));
    return outer(opad, inner);
}

// The hash (as a little-endian 256-bit number) at or below the target?
fn meets(h: array<u32, 8>) -> bool {
    // Little-endian number word 7 (most significant) is the last 4 hash bytes: bswap(h[7]).
    for (var k = 0u; k < 8u; k++) {
        let word = bswap(h[7u - k]);
        let limit = params.target_words[(7u - k) / 4u][(7u - k) % 4u];
        if word < limit {
            return true;
        }
        if word > limit {
            return false;
        }
    }
    return true;
}

@compute @workgroup_size(64)
fn search(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let t = (group.y * groups.x + group.x) * 64u + lane;
    if t >= params.count {
        return;
    }
    let nonce = params.nonce_base + t;
    let h = scrypt_hash(t, nonce);
    if meets(h) {
        let slot = atomicAdd(&results.count, 1u);
        if slot < params.capacity {
            results.nonces[slot] = nonce;
        }
    }
}

@compute @workgroup_size(64)
fn digests(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let t = (group.y * groups.x + group.x) * 64u + lane;
    if t >= params.count {
        return;
    }
    let h = scrypt_hash(t, params.nonce_base + t);
    for (var k = 0u; k < 8u; k++) {
        // Byte-swapped, as the sha256d digests are: the host reads little-endian words.
        results.nonces[8u * t + k] = bswap(h[k]);
    }
}
