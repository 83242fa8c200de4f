// The operations tests/bls/driver.c's "bench" mode times, done by
// @noble/curves: one "name milliseconds" line each, the median CPU time of
// RUNS runs after as many warm-up runs.
//
//   node tests/bls/bench.js NOBLE_PREFIX RUNS
'use strict';
const path = require('path');
const crypto = require('crypto');

const prefix = process.argv[2];
const runs = Number(process.argv[3] || 21);
const { bls12_381: bls } = require(path.resolve(prefix, 'node_modules', '@noble', 'curves', 'bls12-381.js'));
const G1 = bls.G1.ProjectivePoint;
const G2 = bls.G2.ProjectivePoint;
const r = bls.params.r;

const scalar = () => (BigInt('0x' + crypto.randomBytes(32).toString('hex')) % (r - 1n)) + 1n;
function cpuMs() {
	const u = process.cpuUsage();
	return (u.user + u.system) / 1000;
}
function time(name, op) {
	for (let i = 0; i < runs; i++)
		op();
	const t = [];
	for (let i = 0; i < runs; i++) {
		const s = cpuMs();
		op();
		t.push(cpuMs() - s);
	}
	t.sort((a, b) => a - b);
	const m = runs % 2 ? t[(runs - 1) / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
	console.log(`${name} ${m.toFixed(3)}`);
}

// Points that are not the generators, whose multiples noble precomputes.
const P = G1.BASE.multiply(scalar());
const Q = G2.BASE.multiply(scalar());
const k = scalar();
const p1 = P.toHex(true);
const q1 = Q.toHex(true);
const msg = crypto.randomBytes(32);
time('pairing', () => bls.pairing(P, Q));
time('g1_mul', () => P.multiply(k));
time('g2_mul', () => Q.multiply(k));
// noble keeps precomputed multiples of the generators: its fixed-base case.
time('g1_mul_table', () => G1.BASE.multiply(k));
time('g2_mul_table', () => G2.BASE.multiply(k));
time('g1_decode', () => G1.fromHex(p1));
time('g2_decode', () => G2.fromHex(q1));
time('hash_to_g1', () => bls.G1.hashToCurve(msg, { DST: 'bench' }));
