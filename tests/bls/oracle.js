// Recompute the test driver's random cases with @noble/curves and compare.
//
//   node tests/bls/oracle.js NOBLE_PREFIX < cases
//
// NOBLE_PREFIX is the npm prefix @noble/curves was installed under (tests/deps.sh
// puts it in build/noble). Prints one summary line per kind and exits 1 on any
// mismatch, 2 if the package is missing or not the pinned version.
'use strict';
const path = require('path');
const fs = require('fs');

const PINNED = '1.9.7';
const prefix = process.argv[2];
if (!prefix) {
	console.error('oracle: usage: node oracle.js NOBLE_PREFIX < cases');
	process.exit(2);
}
const pkgDir = path.resolve(prefix, 'node_modules', '@noble', 'curves');
let version;
try {
	version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
} catch (e) {
	console.error(`oracle: @noble/curves not found under ${prefix} (run tests/deps.sh): ${e.message}`);
	process.exit(2);
}
if (version !== PINNED) {
	console.error(`oracle: @noble/curves is ${version}, the tests pin ${PINNED}`);
	process.exit(2);
}
const { bls12_381: bls } = require(path.join(pkgDir, 'bls12-381.js'));
const G1 = bls.G1.ProjectivePoint;
const G2 = bls.G2.ProjectivePoint;
const Fp12 = bls.fields.Fp12;

const hex = (b) => Buffer.from(b).toString('hex');
const scalar = (h) => BigInt('0x' + h);
const mul = (P, k) => (k === 0n ? P.constructor.ZERO : P.multiply(k));
const decode = (Point, h) => {
	try {
		return Point.fromHex(h);
	} catch (e) {
		return null;
	}
};

// Whether every 48-byte field element of an encoding (flag bits cleared) is below p.
function canonical(h) {
	const p = bls.fields.Fp.ORDER;
	const mask = (1n << 381n) - 1n;
	for (let at = 0; at < h.length; at += 96) {
		let v = BigInt('0x' + h.slice(at, at + 96));
		if (at === 0)
			v &= mask;
		if (v >= p)
			return false;
	}
	return true;
}

const counts = {};
let failed = 0;
function check(kind, ok, line) {
	counts[kind] = counts[kind] || { cases: 0, mismatches: 0 };
	counts[kind].cases++;
	if (!ok) {
		counts[kind].mismatches++;
		failed++;
		if (failed <= 5)
			console.error(`oracle: mismatch: ${line.slice(0, 400)}`);
	}
}

const lines = fs.readFileSync(0, 'utf8').split('\n').filter((l) => l.length > 0);
for (const line of lines) {
	const f = line.split(' ');
	switch (f[0]) {
	case 'g1mul':
		check('g1 multiplication', mul(G1.BASE, scalar(f[1])).toHex(true) === f[2], line);
		break;
	case 'g2mul':
		check('g2 multiplication', mul(G2.BASE, scalar(f[1])).toHex(true) === f[2], line);
		break;
	case 'g1ops':
	case 'g2ops': {
		const Point = f[0] === 'g1ops' ? G1 : G2;
		const P = Point.fromHex(f[1]);
		const m = scalar(f[2]);
		const kind = f[0].slice(0, 2);
		check(`${kind} point times scalar`, mul(P, m).toHex(true) === f[3], line);
		check(`${kind} addition`, mul(Point.BASE, m).add(P).toHex(true) === f[4], line);
		break;
	}
	case 'g1dec':
	case 'g2dec': {
		const kind = f[0].slice(0, 2);
		const ours = f[2] === 'ok' ? f[3] : null;
		if (!canonical(f[1])) {
			// @noble/curves 1.9.7 reduces an x.c0 >= p of G2 modulo p; the
			// zkcrypto/IETF rule refuses every non-canonical field element.
			check(`${kind} decoding (non-canonical, refused)`, ours === null, line);
			break;
		}
		const P = decode(f[0] === 'g1dec' ? G1 : G2, f[1]);
		const theirs = P === null ? null : P.toHex(true);
		check(`${kind} decoding (${theirs === null ? 'refused' : 'accepted'})`, ours === theirs, line);
		break;
	}
	case 'pairing': {
		const n = Number(f[1]);
		const pairs = [];
		for (let i = 0; i < n; i++)
			pairs.push({ g1: mul(G1.BASE, scalar(f[2 + 2 * i])), g2: mul(G2.BASE, scalar(f[3 + 2 * i])) });
		const gt = n === 1 ? bls.pairing(pairs[0].g1, pairs[0].g2) : bls.pairingBatch(pairs);
		check(n === 1 ? 'pairing' : 'multi-pairing', hex(Fp12.toBytes(gt)) === f[2 + 2 * n], line);
		break;
	}
	case 'hash_to_g1': {
		const msg = f[1] === '-' ? new Uint8Array(0) : Uint8Array.from(Buffer.from(f[1], 'hex'));
		const dst = Uint8Array.from(Buffer.from(f[2], 'hex'));
		check('hash to G1', bls.G1.hashToCurve(msg, { DST: dst }).toHex(true) === f[3], line);
		break;
	}
	case 'scalar': {
		const Fr = bls.fields.Fr;
		const [a, b, sum, diff, prod, inv] = f.slice(1).map(scalar);
		check('scalar arithmetic mod r', Fr.add(a, b) === sum && Fr.sub(a, b) === diff &&
			Fr.mul(a, b) === prod && Fr.inv(a) === inv, line);
		break;
	}
	default:
		check('unknown line', false, line);
	}
}
for (const [kind, c] of Object.entries(counts))
	console.log(`${kind}: ${c.cases} cases, ${c.mismatches} mismatches`);
const total = Object.values(counts).reduce((a, c) => a + c.cases, 0);
console.log(`@noble/curves ${version}: ${total} cases, ${failed} mismatches`);
if (total === 0) {
	console.error('oracle: no cases read');
	process.exit(1);
}
process.exit(failed === 0 ? 0 : 1);
