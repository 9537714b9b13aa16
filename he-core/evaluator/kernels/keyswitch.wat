;; The inner loops of SEAL's key switching (Evaluator::switch_key_inplace, CKKS) and of the Galois
;; automorphism in NTT form, on SEAL's own memory. Build: `npm run build:kernels` (wabt) writes
;; keyswitch-wasm.ts; a test checks the two agree.
;;
;; Every value is a residue mod a prime q < 2^50, stored as u64, and every function leaves its
;; outputs fully reduced in [0, q). Key switching is exact modular arithmetic, so fully reduced
;; outputs are the same bits as SEAL's (which reduces lazily in between but fully at the end).
;;
;; Products x·w mod q use a floating-point quotient estimate. With x, w < q < 2^50 the quotient
;; t = x·w/q is below 2^50; its estimate t' = x · (w/q) in double precision (w/q precomputed where
;; w is fixed: NTT roots, scalars; x · w · (1/q) otherwise) carries at most three roundings of
;; relative size 2^-53, an absolute error below 0.4. Adding 2^52 rounds t' to an integer k in its
;; low mantissa bits ("magic number"; exact since t' < 2^51), and k is floor(t) or floor(t) + 1.
;; So r = x·w − k·q, computed in wrapping 64-bit integers, lies in (−q, q) and is exact; adding q
;; where it is negative gives the residue in [0, q). With the bits B = 0x4330…0 of 2^52 and
;; k = bits(t' + 2^52) − B: r = x·w − bits(t' + 2^52)·q + B·q, with B·q precomputed (wrapping).
;; A u64 value x < 2^52 becomes a double the same way backwards: double(bits(x) | B) − 2^52.
;;
;; The SIMD functions do two coefficients at a time (i64x2, f64x2); n is even. Every comparison
;; is a mask, so no path depends on the data.
;;
;; The forward NTT follows SEAL's DWTHandler::transform_to_rev (Cooley–Tukey, input in natural
;; order, output in bit-reversed order, root powers in SEAL's scrambled order, read one per block
;; from index 1 on); the inverse follows transform_from_rev (Gentleman–Sande) and then multiplies
;; by n^-1. The tables are built by he-core/evaluator/keyswitch.ts the way SEAL's NTTTables are.
(module
  (import "env" "memory" (memory 1))

  ;; x·w mod q in [0, q), for x, w < q < 2^50, wq = w/q and c = B·q
  (func $mulmod (param $x i64) (param $w i64) (param $wq f64) (param $q i64) (param $c i64) (result i64)
    (local $r i64)
    (local.set $r (i64.add (i64.sub (i64.mul (local.get $x) (local.get $w))
      (i64.mul (i64.reinterpret_f64 (f64.add (f64.mul (f64.convert_i64_s (local.get $x)) (local.get $wq)) (f64.const 0x1p52))) (local.get $q)))
      (local.get $c)))
    (select (i64.add (local.get $r) (local.get $q)) (local.get $r) (i64.lt_s (local.get $r) (i64.const 0))))

  ;; In-place forward negacyclic NTT of n coefficients at $a (SEAL's ntt_negacyclic_harvey):
  ;; stages with at least two butterflies per root in SIMD, the last one (one per root) scalar.
  (func (export "ntt_forward") (param $a i32) (param $roots i32) (param $quots i32) (param $n i32) (param $q i64)
    (local $m i32) (local $gap i32) (local $i i32) (local $x i32) (local $y i32) (local $end i32)
    (local $vq v128) (local $vc v128) (local $vw v128) (local $vwq v128) (local $u v128) (local $v v128) (local $s v128)
    (local $c i64) (local $su i64) (local $sv i64) (local $ss i64)
    (local.set $c (i64.mul (i64.const 0x4330000000000000) (local.get $q)))
    (local.set $vq (i64x2.splat (local.get $q)))
    (local.set $vc (i64x2.splat (local.get $c)))
    (local.set $m (i32.const 1))
    (local.set $gap (i32.shl (i32.shr_u (local.get $n) (i32.const 1)) (i32.const 3)))
    (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
    (local.set $quots (i32.add (local.get $quots) (i32.const 8)))
    (block $stages_done
      (loop $stage
        (br_if $stages_done (i32.lt_u (local.get $gap) (i32.const 16)))
        (local.set $x (local.get $a))
        (local.set $i (i32.const 0))
        (loop $block
          (local.set $vw (v128.load64_splat (local.get $roots)))
          (local.set $vwq (v128.load64_splat (local.get $quots)))
          (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
          (local.set $quots (i32.add (local.get $quots) (i32.const 8)))
          (local.set $y (i32.add (local.get $x) (local.get $gap)))
          (local.set $end (local.get $y))
          (loop $butterfly
            (local.set $u (v128.load (local.get $x)))
            (local.set $v (i64x2.add (i64x2.sub (i64x2.mul (v128.load (local.get $y)) (local.get $vw)) (i64x2.mul (f64x2.add (f64x2.mul (f64x2.sub (v128.or (v128.load (local.get $y)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vwq)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vq))) (local.get $vc)))
            (local.set $v (i64x2.add (local.get $v) (v128.and (local.get $vq) (i64x2.lt_s (local.get $v) (v128.const i64x2 0 0)))))
            (local.set $s (i64x2.sub (i64x2.add (local.get $u) (local.get $v)) (local.get $vq)))
            (v128.store (local.get $x) (i64x2.add (local.get $s) (v128.and (local.get $vq) (i64x2.lt_s (local.get $s) (v128.const i64x2 0 0)))))
            (local.set $s (i64x2.sub (local.get $u) (local.get $v)))
            (v128.store (local.get $y) (i64x2.add (local.get $s) (v128.and (local.get $vq) (i64x2.lt_s (local.get $s) (v128.const i64x2 0 0)))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $y (i32.add (local.get $y) (i32.const 16)))
            (br_if $butterfly (i32.lt_u (local.get $x) (local.get $end))))
          (local.set $x (local.get $y))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $block (i32.lt_u (local.get $i) (local.get $m))))
        (local.set $m (i32.shl (local.get $m) (i32.const 1)))
        (local.set $gap (i32.shr_u (local.get $gap) (i32.const 1)))
        (br $stage)))
    ;; the last stage: pairs (x[2i], x[2i+1]), root i
    (local.set $x (local.get $a))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $pair
      (local.set $su (i64.load (local.get $x)))
      (local.set $sv (call $mulmod (i64.load offset=8 (local.get $x)) (i64.load (local.get $roots)) (f64.load (local.get $quots)) (local.get $q) (local.get $c)))
      (local.set $ss (i64.sub (i64.add (local.get $su) (local.get $sv)) (local.get $q)))
      (i64.store (local.get $x) (select (i64.add (local.get $ss) (local.get $q)) (local.get $ss) (i64.lt_s (local.get $ss) (i64.const 0))))
      (local.set $ss (i64.sub (local.get $su) (local.get $sv)))
      (i64.store offset=8 (local.get $x) (select (i64.add (local.get $ss) (local.get $q)) (local.get $ss) (i64.lt_s (local.get $ss) (i64.const 0))))
      (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
      (local.set $quots (i32.add (local.get $quots) (i32.const 8)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br_if $pair (i32.lt_u (local.get $x) (local.get $end)))))

  ;; In-place inverse negacyclic NTT (SEAL's inverse_ntt_negacyclic_harvey), $ninv = n^-1 mod q,
  ;; $ninvq = ninv/q: the first stage (one butterfly per root) scalar, the others in SIMD, then × n^-1.
  (func (export "ntt_inverse") (param $a i32) (param $roots i32) (param $quots i32) (param $n i32) (param $q i64) (param $ninv i64) (param $ninvq f64)
    (local $m i32) (local $gap i32) (local $i i32) (local $x i32) (local $y i32) (local $end i32)
    (local $vq v128) (local $vc v128) (local $vw v128) (local $vwq v128) (local $u v128) (local $v v128) (local $s v128)
    (local $c i64) (local $su i64) (local $sv i64) (local $ss i64)
    (local.set $c (i64.mul (i64.const 0x4330000000000000) (local.get $q)))
    (local.set $vq (i64x2.splat (local.get $q)))
    (local.set $vc (i64x2.splat (local.get $c)))
    (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
    (local.set $quots (i32.add (local.get $quots) (i32.const 8)))
    ;; the first stage: pairs (x[2i], x[2i+1]), root i
    (local.set $x (local.get $a))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $pair
      (local.set $su (i64.load (local.get $x)))
      (local.set $sv (i64.load offset=8 (local.get $x)))
      (local.set $ss (i64.sub (i64.add (local.get $su) (local.get $sv)) (local.get $q)))
      (i64.store (local.get $x) (select (i64.add (local.get $ss) (local.get $q)) (local.get $ss) (i64.lt_s (local.get $ss) (i64.const 0))))
      (local.set $ss (i64.sub (local.get $su) (local.get $sv)))
      (local.set $ss (select (i64.add (local.get $ss) (local.get $q)) (local.get $ss) (i64.lt_s (local.get $ss) (i64.const 0))))
      (i64.store offset=8 (local.get $x) (call $mulmod (local.get $ss) (i64.load (local.get $roots)) (f64.load (local.get $quots)) (local.get $q) (local.get $c)))
      (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
      (local.set $quots (i32.add (local.get $quots) (i32.const 8)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br_if $pair (i32.lt_u (local.get $x) (local.get $end))))
    (local.set $m (i32.shr_u (local.get $n) (i32.const 2)))
    (local.set $gap (i32.const 16))
    (block $stages_done
      (loop $stage
        (br_if $stages_done (i32.eqz (local.get $m)))
        (local.set $x (local.get $a))
        (local.set $i (i32.const 0))
        (loop $block
          (local.set $vw (v128.load64_splat (local.get $roots)))
          (local.set $vwq (v128.load64_splat (local.get $quots)))
          (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
          (local.set $quots (i32.add (local.get $quots) (i32.const 8)))
          (local.set $y (i32.add (local.get $x) (local.get $gap)))
          (local.set $end (local.get $y))
          (loop $butterfly
            (local.set $u (v128.load (local.get $x)))
            (local.set $v (v128.load (local.get $y)))
            (local.set $s (i64x2.sub (i64x2.add (local.get $u) (local.get $v)) (local.get $vq)))
            (v128.store (local.get $x) (i64x2.add (local.get $s) (v128.and (local.get $vq) (i64x2.lt_s (local.get $s) (v128.const i64x2 0 0)))))
            (local.set $s (i64x2.sub (local.get $u) (local.get $v)))
            (local.set $s (i64x2.add (local.get $s) (v128.and (local.get $vq) (i64x2.lt_s (local.get $s) (v128.const i64x2 0 0)))))
            (local.set $s (i64x2.add (i64x2.sub (i64x2.mul (local.get $s) (local.get $vw)) (i64x2.mul (f64x2.add (f64x2.mul (f64x2.sub (v128.or (local.get $s) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vwq)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vq))) (local.get $vc)))
            (v128.store (local.get $y) (i64x2.add (local.get $s) (v128.and (local.get $vq) (i64x2.lt_s (local.get $s) (v128.const i64x2 0 0)))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $y (i32.add (local.get $y) (i32.const 16)))
            (br_if $butterfly (i32.lt_u (local.get $x) (local.get $end))))
          (local.set $x (local.get $y))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $block (i32.lt_u (local.get $i) (local.get $m))))
        (local.set $m (i32.shr_u (local.get $m) (i32.const 1)))
        (local.set $gap (i32.shl (local.get $gap) (i32.const 1)))
        (br $stage)))
    ;; times n^-1
    (local.set $vw (i64x2.splat (local.get $ninv)))
    (local.set $vwq (f64x2.splat (local.get $ninvq)))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $scale
      (local.set $s (i64x2.add (i64x2.sub (i64x2.mul (v128.load (local.get $a)) (local.get $vw)) (i64x2.mul (f64x2.add (f64x2.mul (f64x2.sub (v128.or (v128.load (local.get $a)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vwq)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vq))) (local.get $vc)))
      (v128.store (local.get $a) (i64x2.add (local.get $s) (v128.and (local.get $vq) (i64x2.lt_s (local.get $s) (v128.const i64x2 0 0)))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br_if $scale (i32.lt_u (local.get $a) (local.get $end)))))

  ;; dst[i] = src[i] mod q, for src[i] < 2^50 ($qinv = 1/q)
  (func (export "reduce") (param $src i32) (param $dst i32) (param $n i32) (param $q i64) (param $qinv f64)
    (local $end i32) (local $vq v128) (local $vc v128) (local $vinv v128) (local $x v128) (local $r v128)
    (local.set $vq (i64x2.splat (local.get $q)))
    (local.set $vc (i64x2.splat (i64.mul (i64.const 0x4330000000000000) (local.get $q))))
    (local.set $vinv (f64x2.splat (local.get $qinv)))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $x (v128.load (local.get $src)))
      (local.set $r (i64x2.add (i64x2.sub (local.get $x)
        (i64x2.mul (f64x2.add (f64x2.mul (f64x2.sub (v128.or (local.get $x) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vinv)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vq))) (local.get $vc)))
      (v128.store (local.get $dst) (i64x2.add (local.get $r) (v128.and (local.get $vq) (i64x2.lt_s (local.get $r) (v128.const i64x2 0 0)))))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $src) (local.get $end)))))

  ;; a[i] = (a[i] + c) mod q, for a[i], c < q
  (func (export "add_scalar") (param $a i32) (param $n i32) (param $c i64) (param $q i64)
    (local $end i32) (local $vq v128) (local $vadd v128) (local $s v128)
    (local.set $vq (i64x2.splat (local.get $q)))
    (local.set $vadd (i64x2.splat (i64.sub (local.get $c) (local.get $q))))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $s (i64x2.add (v128.load (local.get $a)) (local.get $vadd)))
      (v128.store (local.get $a) (i64x2.add (local.get $s) (v128.and (local.get $vq) (i64x2.lt_s (local.get $s) (v128.const i64x2 0 0)))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $a) (local.get $end)))))

  ;; acc0[i] = (acc0[i] + x[i]·k0[i]) mod q and acc1[i] likewise with k1: one decomposition limb
  ;; times both components of its key ($qinv = 1/q; the accumulators start at zero).
  (func (export "mac_key") (param $x i32) (param $k0 i32) (param $k1 i32) (param $acc0 i32) (param $acc1 i32) (param $n i32) (param $q i64) (param $qinv f64)
    (local $end i32) (local $vq v128) (local $vc v128) (local $xv v128) (local $xf v128) (local $kv v128) (local $r v128)
    (local.set $vq (i64x2.splat (local.get $q)))
    (local.set $vc (i64x2.splat (i64.mul (i64.const 0x4330000000000000) (local.get $q))))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $xv (v128.load (local.get $x)))
      (local.set $xf (f64x2.mul (f64x2.sub (v128.or (local.get $xv) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)) (f64x2.splat (local.get $qinv))))
      ;; component 0: r in (−q, q), plus the accumulator: (−q, 2q)
      (local.set $kv (v128.load (local.get $k0)))
      (local.set $r (i64x2.add (i64x2.add (i64x2.sub (i64x2.mul (local.get $xv) (local.get $kv))
        (i64x2.mul (f64x2.add (f64x2.mul (local.get $xf) (f64x2.sub (v128.or (local.get $kv) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52))) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vq)))
        (local.get $vc)) (v128.load (local.get $acc0))))
      (local.set $r (i64x2.add (local.get $r) (v128.and (local.get $vq) (i64x2.lt_s (local.get $r) (v128.const i64x2 0 0)))))
      (local.set $r (i64x2.sub (local.get $r) (local.get $vq)))
      (v128.store (local.get $acc0) (i64x2.add (local.get $r) (v128.and (local.get $vq) (i64x2.lt_s (local.get $r) (v128.const i64x2 0 0)))))
      ;; component 1
      (local.set $kv (v128.load (local.get $k1)))
      (local.set $r (i64x2.add (i64x2.add (i64x2.sub (i64x2.mul (local.get $xv) (local.get $kv))
        (i64x2.mul (f64x2.add (f64x2.mul (local.get $xf) (f64x2.sub (v128.or (local.get $kv) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52))) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vq)))
        (local.get $vc)) (v128.load (local.get $acc1))))
      (local.set $r (i64x2.add (local.get $r) (v128.and (local.get $vq) (i64x2.lt_s (local.get $r) (v128.const i64x2 0 0)))))
      (local.set $r (i64x2.sub (local.get $r) (local.get $vq)))
      (v128.store (local.get $acc1) (i64x2.add (local.get $r) (v128.and (local.get $vq) (i64x2.lt_s (local.get $r) (v128.const i64x2 0 0)))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $k0 (i32.add (local.get $k0) (i32.const 16)))
      (local.set $k1 (i32.add (local.get $k1) (i32.const 16)))
      (local.set $acc0 (i32.add (local.get $acc0) (i32.const 16)))
      (local.set $acc1 (i32.add (local.get $acc1) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $x) (local.get $end)))))

  ;; c[i] = (c[i] + (p[i] − t[i])·inv) mod q: the last step of the modulus switch down
  ;; (inv = q_special^-1 mod q, invq = inv/q)
  (func (export "mod_down") (param $c i32) (param $p i32) (param $t i32) (param $n i32) (param $q i64) (param $inv i64) (param $invq f64)
    (local $end i32) (local $vq v128) (local $vc v128) (local $vw v128) (local $vwq v128) (local $d v128)
    (local.set $vq (i64x2.splat (local.get $q)))
    (local.set $vc (i64x2.splat (i64.mul (i64.const 0x4330000000000000) (local.get $q))))
    (local.set $vw (i64x2.splat (local.get $inv)))
    (local.set $vwq (f64x2.splat (local.get $invq)))
    (local.set $end (i32.add (local.get $c) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $d (i64x2.sub (v128.load (local.get $p)) (v128.load (local.get $t))))
      (local.set $d (i64x2.add (local.get $d) (v128.and (local.get $vq) (i64x2.lt_s (local.get $d) (v128.const i64x2 0 0)))))
      (local.set $d (i64x2.add (i64x2.sub (i64x2.mul (local.get $d) (local.get $vw)) (i64x2.mul (f64x2.add (f64x2.mul (f64x2.sub (v128.or (local.get $d) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vwq)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vq))) (local.get $vc)))
      (local.set $d (i64x2.add (local.get $d) (v128.and (local.get $vq) (i64x2.lt_s (local.get $d) (v128.const i64x2 0 0)))))
      (local.set $d (i64x2.sub (i64x2.add (local.get $d) (v128.load (local.get $c))) (local.get $vq)))
      (v128.store (local.get $c) (i64x2.add (local.get $d) (v128.and (local.get $vq) (i64x2.lt_s (local.get $d) (v128.const i64x2 0 0)))))
      (local.set $c (i32.add (local.get $c) (i32.const 16)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $t (i32.add (local.get $t) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $c) (local.get $end)))))

  ;; dst[i] = src[table[i]] for i in [0, n): SEAL's GaloisTool::apply_galois_ntt (table: u32)
  (func (export "permute") (param $src i32) (param $dst i32) (param $table i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (i64.store (local.get $dst) (i64.load (i32.add (local.get $src) (i32.shl (i32.load (local.get $table)) (i32.const 3)))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
      (local.set $table (i32.add (local.get $table) (i32.const 4)))
      (br_if $next (i32.lt_u (local.get $dst) (local.get $end)))))

  ;; ---- Primes below 2^26: the same functions in double precision, two lanes at a time. ----
  ;; Residues below 2^26 have products below 2^52, exact in a double; r = v − round(v/q)·q is then
  ;; exact and lies in (−q, q) (the estimate of v/q is off by far less than 1/2); adding q where
  ;; it is negative gives the residue. The NTTs convert their limb to doubles in place, transform
  ;; it, and convert it back; the root tables of these primes hold doubles.

  ;; a[i]: u64 → double, in place
  (func $to_f64 (param $a i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (v128.store (local.get $a) (f64x2.sub (v128.or (v128.load (local.get $a)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $a) (local.get $end)))))

  ;; The NTTs for q < 2^26 keep values as signed doubles, reduced lazily ("balanced"): roots are
  ;; stored in (−q/2, q/2], so a product y·w with |y| < 4q is below 2q² < 2^53 in magnitude and
  ;; exact, and r = v − round(v/q)·q (rounding by adding and subtracting 1.5·2^52, exact for
  ;; |v/q| < 2^51) satisfies |r| ≤ q/2 + 2 (the estimate of v/q is off by far less than 1).
  ;; Forward (Cooley–Tukey): x' = u + r, y' = u − r grow by at most q/2 + 2 per stage, from below q;
  ;; after every 5 stages every value is brought back to |x| ≤ q/2 + 2, so no input of a product
  ;; exceeds 3.5q + 14 < 4q. Inverse (Gentleman–Sande): sums are reduced at every stage, so both
  ;; outputs stay within q/2 + 2 and u − y within q + 4. The last pass makes every value canonical
  ;; (a signed remainder, plus q where negative) and writes it back as u64.

  ;; a[i] = a[i] − round(a[i]/q)·q, in place (doubles)
  (func $balance (param $a i32) (param $n i32) (param $q f64)
    (local $end i32) (local $vq v128) (local $vinv v128)
    (local.set $vq (f64x2.splat (local.get $q)))
    (local.set $vinv (f64x2.splat (f64.div (f64.const 1) (local.get $q))))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (v128.store (local.get $a) (f64x2.sub (v128.load (local.get $a)) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (v128.load (local.get $a)) (local.get $vinv)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $a) (local.get $end)))))

  ;; a[i] (doubles, |a[i]| < 2^50) → its residue in [0, q), as u64, in place; times $m first if $m ≠ 1
  (func $canonical (param $a i32) (param $n i32) (param $q f64) (param $m f64)
    (local $end i32) (local $vq v128) (local $vinv v128) (local $vm v128) (local $r v128)
    (local.set $vq (f64x2.splat (local.get $q)))
    (local.set $vinv (f64x2.splat (f64.div (f64.const 1) (local.get $q))))
    (local.set $vm (f64x2.splat (local.get $m)))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $r (f64x2.mul (v128.load (local.get $a)) (local.get $vm)))
      (local.set $r (f64x2.sub (local.get $r) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $r) (local.get $vinv)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq))))
      (v128.store (local.get $a) (v128.xor (f64x2.add (f64x2.add (local.get $r) (v128.and (local.get $vq) (f64x2.lt (local.get $r) (v128.const f64x2 0 0)))) (v128.const f64x2 0x1p52 0x1p52)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $a) (local.get $end)))))

  (func (export "ntt_forward_small") (param $a i32) (param $roots i32) (param $n i32) (param $q f64)
    (local $m i32) (local $gap i32) (local $i i32) (local $x i32) (local $y i32) (local $end i32) (local $stage i32)
    (local $vq v128) (local $vinv v128) (local $vw v128) (local $u v128) (local $v v128) (local $s v128) (local $b v128)
    (call $to_f64 (local.get $a) (local.get $n))
    (local.set $vq (f64x2.splat (local.get $q)))
    (local.set $vinv (f64x2.splat (f64.div (f64.const 1) (local.get $q))))
    (local.set $m (i32.const 1))
    (local.set $gap (i32.shl (i32.shr_u (local.get $n) (i32.const 1)) (i32.const 3)))
    (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
    (block $stages_done
      (loop $stage
        (br_if $stages_done (i32.lt_u (local.get $gap) (i32.const 16)))
        (local.set $x (local.get $a))
        (local.set $i (i32.const 0))
        (loop $block
          (local.set $vw (v128.load64_splat (local.get $roots)))
          (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
          (local.set $y (i32.add (local.get $x) (local.get $gap)))
          (local.set $end (local.get $y))
          (loop $butterfly
            (local.set $u (v128.load (local.get $x)))
            (local.set $v (f64x2.mul (v128.load (local.get $y)) (local.get $vw)))
            (local.set $v (f64x2.sub (local.get $v) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $v) (local.get $vinv)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq))))
            (v128.store (local.get $x) (f64x2.add (local.get $u) (local.get $v)))
            (v128.store (local.get $y) (f64x2.sub (local.get $u) (local.get $v)))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $y (i32.add (local.get $y) (i32.const 16)))
            (br_if $butterfly (i32.lt_u (local.get $x) (local.get $end))))
          (local.set $x (local.get $y))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $block (i32.lt_u (local.get $i) (local.get $m))))
        (local.set $m (i32.shl (local.get $m) (i32.const 1)))
        (local.set $gap (i32.shr_u (local.get $gap) (i32.const 1)))
        (local.set $stage (i32.add (local.get $stage) (i32.const 1)))
        (if (i32.eqz (i32.rem_u (local.get $stage) (i32.const 5))) (then (call $balance (local.get $a) (local.get $n) (local.get $q))))
        (br $stage)))
    ;; the last stage: pairs (x[2i], x[2i+1]) with root i, two pairs at a time (lanes regrouped)
    (local.set $x (local.get $a))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $pairs
      (local.set $s (v128.load (local.get $x)))
      (local.set $b (v128.load offset=16 (local.get $x)))
      (local.set $u (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s) (local.get $b)))
      (local.set $v (f64x2.mul (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s) (local.get $b)) (v128.load (local.get $roots))))
      (local.set $v (f64x2.sub (local.get $v) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $v) (local.get $vinv)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq))))
      (local.set $s (f64x2.add (local.get $u) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $u) (local.get $v)))
      (v128.store (local.get $x) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s) (local.get $b)))
      (v128.store offset=16 (local.get $x) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s) (local.get $b)))
      (local.set $roots (i32.add (local.get $roots) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (br_if $pairs (i32.lt_u (local.get $x) (local.get $end))))
    (call $canonical (local.get $a) (local.get $n) (local.get $q) (f64.const 1)))

  (func (export "ntt_inverse_small") (param $a i32) (param $roots i32) (param $n i32) (param $q f64) (param $ninv f64)
    (local $m i32) (local $gap i32) (local $i i32) (local $x i32) (local $y i32) (local $end i32)
    (local $vq v128) (local $vinv v128) (local $vw v128) (local $u v128) (local $v v128) (local $s v128) (local $b v128)
    (call $to_f64 (local.get $a) (local.get $n))
    (local.set $vq (f64x2.splat (local.get $q)))
    (local.set $vinv (f64x2.splat (f64.div (f64.const 1) (local.get $q))))
    (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
    ;; the first stage: pairs (x[2i], x[2i+1]) with root i, two pairs at a time
    (local.set $x (local.get $a))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $pairs
      (local.set $s (v128.load (local.get $x)))
      (local.set $b (v128.load offset=16 (local.get $x)))
      (local.set $u (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s) (local.get $b)))
      (local.set $v (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s) (local.get $b)))
      (local.set $s (f64x2.add (local.get $u) (local.get $v)))
      (local.set $s (f64x2.sub (local.get $s) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $s) (local.get $vinv)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq))))
      (local.set $b (f64x2.mul (f64x2.sub (local.get $u) (local.get $v)) (v128.load (local.get $roots))))
      (local.set $b (f64x2.sub (local.get $b) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $b) (local.get $vinv)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq))))
      (v128.store (local.get $x) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s) (local.get $b)))
      (v128.store offset=16 (local.get $x) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s) (local.get $b)))
      (local.set $roots (i32.add (local.get $roots) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (br_if $pairs (i32.lt_u (local.get $x) (local.get $end))))
    (local.set $m (i32.shr_u (local.get $n) (i32.const 2)))
    (local.set $gap (i32.const 16))
    (block $stages_done
      (loop $stage
        (br_if $stages_done (i32.eqz (local.get $m)))
        (local.set $x (local.get $a))
        (local.set $i (i32.const 0))
        (loop $block
          (local.set $vw (v128.load64_splat (local.get $roots)))
          (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
          (local.set $y (i32.add (local.get $x) (local.get $gap)))
          (local.set $end (local.get $y))
          (loop $butterfly
            (local.set $u (v128.load (local.get $x)))
            (local.set $v (v128.load (local.get $y)))
            (local.set $s (f64x2.add (local.get $u) (local.get $v)))
            (v128.store (local.get $x) (f64x2.sub (local.get $s) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $s) (local.get $vinv)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq))))
            (local.set $s (f64x2.mul (f64x2.sub (local.get $u) (local.get $v)) (local.get $vw)))
            (v128.store (local.get $y) (f64x2.sub (local.get $s) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $s) (local.get $vinv)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $y (i32.add (local.get $y) (i32.const 16)))
            (br_if $butterfly (i32.lt_u (local.get $x) (local.get $end))))
          (local.set $x (local.get $y))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $block (i32.lt_u (local.get $i) (local.get $m))))
        (local.set $m (i32.shr_u (local.get $m) (i32.const 1)))
        (local.set $gap (i32.shl (local.get $gap) (i32.const 1)))
        (br $stage)))
    ;; times n^-1 (balanced, |n^-1| ≤ q/2), canonical, back to u64
    (call $canonical (local.get $a) (local.get $n) (local.get $q) (local.get $ninv)))

  ;; ---- Primes from 2^26 to below 2^48 with a fused multiply-add (ntt_forward_fma, ntt_inverse_fma). ----
  ;; The same transforms as ntt_forward and ntt_inverse (same tables: roots as u64, w/q as
  ;; doubles; same outputs, fully reduced), on doubles like the small primes' NTTs, with products
  ;; from f64x2.relaxed_madd, which computes a·b + c with one rounding where the machine has a fused
  ;; multiply-add (x86-64 FMA3, ARMv8), and with two roundings elsewhere. The kernel uses these
  ;; functions only where `fma_fused` (below) found it fused (he-core/evaluator/keyswitch.ts).
  ;; y·w mod q for a signed integer double y and a root 0 ≤ w < q, with |y| < 12q and |y·w/q| < 2^50:
  ;;   h = fl(y·w); l = y·w − h exactly (= fma(y, w, −h): the error of a product is a double);
  ;;   k = round(y·(w/q)) (adding and subtracting 1.5·2^52), the estimate off by less than
  ;;     |y·w/q|·2^-52 < 1/4, so k is within 3/4 of y·w/q;
  ;;   r = fma(−k, q, h) + l: h − k·q is an integer below 2^52 in magnitude (|h − y·w| ≤ 2^46
  ;;     since |y·w| < 12q² < 2^100), so the fma is exact, and so is the sum: r = y·w − k·q
  ;;     exactly, with |r| < 0.75q.
  ;; Forward: values start in [0, q) and grow by less than 0.75q per stage. Below 2^45, the at
  ;; most 15 stages of n ≤ 2^16 keep them within 12.25q < 2^49 (exact) and products' inputs
  ;; within 11.5q: no reduction in between. From 2^45 to below 2^48, every 4 stages they are
  ;; brought back within q/2 + 1 ($balance), so they stay within 4q < 2^50 and products' inputs
  ;; within 3.25q (|y·w/q| < 3.25·2^48 < 2^50). Inverse: sums are reduced at every stage (within
  ;; q/2 + 1) and differences (within 1.5q) are multiplied, so outputs stay within 0.75q. The last
  ;; pass makes every value canonical and writes it back as u64 ($canonical, or $canonical_fma
  ;; times n^-1).

  ;; 1 if relaxed_madd is fused here: (1 + 2^-30)² − fl((1 + 2^-30)²) = 2^-60, which two roundings lose.
  (func (export "fma_fused") (result i32)
    (f64.eq
      (f64x2.extract_lane 0 (f64x2.relaxed_madd (f64x2.splat (f64.const 0x1.00000004p0)) (f64x2.splat (f64.const 0x1.00000004p0)) (f64x2.splat (f64.const -0x1.00000008p0))))
      (f64.const 0x1p-60)))

  ;; a[i] (doubles, |a[i]| < 4q) → a[i]·m mod q in [0, q), as u64, in place ($m < q as a double, $mq = m/q)
  (func $canonical_fma (param $a i32) (param $n i32) (param $q f64) (param $m f64) (param $mq f64)
    (local $end i32) (local $vq v128) (local $vm v128) (local $vmq v128) (local $y v128) (local $h v128) (local $r v128)
    (local.set $vq (f64x2.splat (local.get $q)))
    (local.set $vm (f64x2.splat (local.get $m)))
    (local.set $vmq (f64x2.splat (local.get $mq)))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $y (v128.load (local.get $a)))
      (local.set $h (f64x2.mul (local.get $y) (local.get $vm)))
      (local.set $r (f64x2.add
        (f64x2.relaxed_nmadd (f64x2.sub (f64x2.add (f64x2.mul (local.get $y) (local.get $vmq)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq) (local.get $h))
        (f64x2.relaxed_madd (local.get $y) (local.get $vm) (f64x2.neg (local.get $h)))))
      (v128.store (local.get $a) (v128.xor (f64x2.add (f64x2.add (local.get $r) (v128.and (local.get $vq) (f64x2.lt (local.get $r) (v128.const f64x2 0 0)))) (v128.const f64x2 0x1p52 0x1p52)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $a) (local.get $end)))))

  (func (export "ntt_forward_fma") (param $a i32) (param $roots i32) (param $quots i32) (param $n i32) (param $q i64)
    (local $m i32) (local $gap i32) (local $i i32) (local $x i32) (local $y i32) (local $end i32) (local $stage i32) (local $big i32)
    (local $qf f64) (local $vq v128) (local $vw v128) (local $vwq v128) (local $u v128) (local $v v128) (local $s v128) (local $b v128) (local $h v128)
    (local.set $qf (f64.convert_i64_u (local.get $q)))
    (local.set $big (i64.ge_u (local.get $q) (i64.const 0x200000000000)))
    (call $to_f64 (local.get $a) (local.get $n))
    (local.set $vq (f64x2.splat (local.get $qf)))
    (local.set $m (i32.const 1))
    (local.set $gap (i32.shl (i32.shr_u (local.get $n) (i32.const 1)) (i32.const 3)))
    (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
    (local.set $quots (i32.add (local.get $quots) (i32.const 8)))
    (block $stages_done
      (loop $stage
        (br_if $stages_done (i32.lt_u (local.get $gap) (i32.const 16)))
        (local.set $x (local.get $a))
        (local.set $i (i32.const 0))
        (loop $block
          (local.set $vw (f64x2.sub (v128.or (v128.load64_splat (local.get $roots)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)))
          (local.set $vwq (v128.load64_splat (local.get $quots)))
          (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
          (local.set $quots (i32.add (local.get $quots) (i32.const 8)))
          (local.set $y (i32.add (local.get $x) (local.get $gap)))
          (local.set $end (local.get $y))
          (loop $butterfly
            (local.set $u (v128.load (local.get $x)))
            (local.set $s (v128.load (local.get $y)))
            (local.set $h (f64x2.mul (local.get $s) (local.get $vw)))
            (local.set $v (f64x2.add
              (f64x2.relaxed_nmadd (f64x2.sub (f64x2.add (f64x2.mul (local.get $s) (local.get $vwq)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq) (local.get $h))
              (f64x2.relaxed_madd (local.get $s) (local.get $vw) (f64x2.neg (local.get $h)))))
            (v128.store (local.get $x) (f64x2.add (local.get $u) (local.get $v)))
            (v128.store (local.get $y) (f64x2.sub (local.get $u) (local.get $v)))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $y (i32.add (local.get $y) (i32.const 16)))
            (br_if $butterfly (i32.lt_u (local.get $x) (local.get $end))))
          (local.set $x (local.get $y))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $block (i32.lt_u (local.get $i) (local.get $m))))
        (local.set $m (i32.shl (local.get $m) (i32.const 1)))
        (local.set $gap (i32.shr_u (local.get $gap) (i32.const 1)))
        (local.set $stage (i32.add (local.get $stage) (i32.const 1)))
        (if (i32.and (local.get $big) (i32.eqz (i32.and (local.get $stage) (i32.const 3)))) (then (call $balance (local.get $a) (local.get $n) (local.get $qf))))
        (br $stage)))
    ;; the last stage: pairs (x[2i], x[2i+1]) with root i, two pairs at a time (lanes regrouped)
    (local.set $x (local.get $a))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $pairs
      (local.set $s (v128.load (local.get $x)))
      (local.set $b (v128.load offset=16 (local.get $x)))
      (local.set $u (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s) (local.get $b)))
      (local.set $s (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s) (local.get $b)))
      (local.set $vw (f64x2.sub (v128.or (v128.load (local.get $roots)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)))
      (local.set $h (f64x2.mul (local.get $s) (local.get $vw)))
      (local.set $v (f64x2.add
        (f64x2.relaxed_nmadd (f64x2.sub (f64x2.add (f64x2.mul (local.get $s) (v128.load (local.get $quots))) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq) (local.get $h))
        (f64x2.relaxed_madd (local.get $s) (local.get $vw) (f64x2.neg (local.get $h)))))
      (local.set $s (f64x2.add (local.get $u) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $u) (local.get $v)))
      (v128.store (local.get $x) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s) (local.get $b)))
      (v128.store offset=16 (local.get $x) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s) (local.get $b)))
      (local.set $roots (i32.add (local.get $roots) (i32.const 16)))
      (local.set $quots (i32.add (local.get $quots) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (br_if $pairs (i32.lt_u (local.get $x) (local.get $end))))
    (call $canonical (local.get $a) (local.get $n) (local.get $qf) (f64.const 1)))

  (func (export "ntt_inverse_fma") (param $a i32) (param $roots i32) (param $quots i32) (param $n i32) (param $q i64) (param $ninv i64) (param $ninvq f64)
    (local $m i32) (local $gap i32) (local $i i32) (local $x i32) (local $y i32) (local $end i32)
    (local $qf f64) (local $vq v128) (local $vinv v128) (local $vw v128) (local $vwq v128) (local $u v128) (local $v v128) (local $s v128) (local $b v128) (local $h v128)
    (local.set $qf (f64.convert_i64_u (local.get $q)))
    (call $to_f64 (local.get $a) (local.get $n))
    (local.set $vq (f64x2.splat (local.get $qf)))
    (local.set $vinv (f64x2.splat (f64.div (f64.const 1) (local.get $qf))))
    (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
    (local.set $quots (i32.add (local.get $quots) (i32.const 8)))
    ;; the first stage: pairs (x[2i], x[2i+1]) with root i, two pairs at a time
    (local.set $x (local.get $a))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $pairs
      (local.set $s (v128.load (local.get $x)))
      (local.set $b (v128.load offset=16 (local.get $x)))
      (local.set $u (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s) (local.get $b)))
      (local.set $v (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s) (local.get $b)))
      (local.set $s (f64x2.add (local.get $u) (local.get $v)))
      (local.set $s (f64x2.sub (local.get $s) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $s) (local.get $vinv)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq))))
      (local.set $b (f64x2.sub (local.get $u) (local.get $v)))
      (local.set $vw (f64x2.sub (v128.or (v128.load (local.get $roots)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)))
      (local.set $h (f64x2.mul (local.get $b) (local.get $vw)))
      (local.set $b (f64x2.add
        (f64x2.relaxed_nmadd (f64x2.sub (f64x2.add (f64x2.mul (local.get $b) (v128.load (local.get $quots))) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq) (local.get $h))
        (f64x2.relaxed_madd (local.get $b) (local.get $vw) (f64x2.neg (local.get $h)))))
      (v128.store (local.get $x) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s) (local.get $b)))
      (v128.store offset=16 (local.get $x) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s) (local.get $b)))
      (local.set $roots (i32.add (local.get $roots) (i32.const 16)))
      (local.set $quots (i32.add (local.get $quots) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (br_if $pairs (i32.lt_u (local.get $x) (local.get $end))))
    (local.set $m (i32.shr_u (local.get $n) (i32.const 2)))
    (local.set $gap (i32.const 16))
    (block $stages_done
      (loop $stage
        (br_if $stages_done (i32.eqz (local.get $m)))
        (local.set $x (local.get $a))
        (local.set $i (i32.const 0))
        (loop $block
          (local.set $vw (f64x2.sub (v128.or (v128.load64_splat (local.get $roots)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)))
          (local.set $vwq (v128.load64_splat (local.get $quots)))
          (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
          (local.set $quots (i32.add (local.get $quots) (i32.const 8)))
          (local.set $y (i32.add (local.get $x) (local.get $gap)))
          (local.set $end (local.get $y))
          (loop $butterfly
            (local.set $u (v128.load (local.get $x)))
            (local.set $v (v128.load (local.get $y)))
            (local.set $s (f64x2.add (local.get $u) (local.get $v)))
            (v128.store (local.get $x) (f64x2.sub (local.get $s) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $s) (local.get $vinv)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq))))
            (local.set $s (f64x2.sub (local.get $u) (local.get $v)))
            (local.set $h (f64x2.mul (local.get $s) (local.get $vw)))
            (v128.store (local.get $y) (f64x2.add
              (f64x2.relaxed_nmadd (f64x2.sub (f64x2.add (f64x2.mul (local.get $s) (local.get $vwq)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (v128.const f64x2 0x1.8p52 0x1.8p52)) (local.get $vq) (local.get $h))
              (f64x2.relaxed_madd (local.get $s) (local.get $vw) (f64x2.neg (local.get $h)))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $y (i32.add (local.get $y) (i32.const 16)))
            (br_if $butterfly (i32.lt_u (local.get $x) (local.get $end))))
          (local.set $x (local.get $y))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $block (i32.lt_u (local.get $i) (local.get $m))))
        (local.set $m (i32.shr_u (local.get $m) (i32.const 1)))
        (local.set $gap (i32.shl (local.get $gap) (i32.const 1)))
        (br $stage)))
    ;; times n^-1, canonical, back to u64
    (call $canonical_fma (local.get $a) (local.get $n) (local.get $qf) (f64.convert_i64_u (local.get $ninv)) (local.get $ninvq)))

  ;; mac_key for q < 2^26: products exact in doubles; accumulators u64 in [0, q)
  (func (export "mac_key_small") (param $x i32) (param $k0 i32) (param $k1 i32) (param $acc0 i32) (param $acc1 i32) (param $n i32) (param $q f64)
    (local $end i32) (local $vq v128) (local $vinv v128) (local $xf v128) (local $r v128)
    (local.set $vq (f64x2.splat (local.get $q)))
    (local.set $vinv (f64x2.splat (f64.div (f64.const 1) (local.get $q))))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $xf (f64x2.sub (v128.or (v128.load (local.get $x)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)))
      (local.set $r (f64x2.mul (local.get $xf) (f64x2.sub (v128.or (v128.load (local.get $k0)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52))))
      (local.set $r (f64x2.sub (local.get $r) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $r) (local.get $vinv)) (v128.const f64x2 0x1p52 0x1p52)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vq))))
      (local.set $r (f64x2.add (local.get $r) (f64x2.sub (v128.or (v128.load (local.get $acc0)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52))))
      (local.set $r (f64x2.add (local.get $r) (v128.and (local.get $vq) (f64x2.lt (local.get $r) (v128.const f64x2 0 0)))))
      (local.set $r (f64x2.sub (local.get $r) (local.get $vq)))
      (v128.store (local.get $acc0) (v128.xor (f64x2.add (f64x2.add (local.get $r) (v128.and (local.get $vq) (f64x2.lt (local.get $r) (v128.const f64x2 0 0)))) (v128.const f64x2 0x1p52 0x1p52)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)))
      (local.set $r (f64x2.mul (local.get $xf) (f64x2.sub (v128.or (v128.load (local.get $k1)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52))))
      (local.set $r (f64x2.sub (local.get $r) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $r) (local.get $vinv)) (v128.const f64x2 0x1p52 0x1p52)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vq))))
      (local.set $r (f64x2.add (local.get $r) (f64x2.sub (v128.or (v128.load (local.get $acc1)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52))))
      (local.set $r (f64x2.add (local.get $r) (v128.and (local.get $vq) (f64x2.lt (local.get $r) (v128.const f64x2 0 0)))))
      (local.set $r (f64x2.sub (local.get $r) (local.get $vq)))
      (v128.store (local.get $acc1) (v128.xor (f64x2.add (f64x2.add (local.get $r) (v128.and (local.get $vq) (f64x2.lt (local.get $r) (v128.const f64x2 0 0)))) (v128.const f64x2 0x1p52 0x1p52)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $k0 (i32.add (local.get $k0) (i32.const 16)))
      (local.set $k1 (i32.add (local.get $k1) (i32.const 16)))
      (local.set $acc0 (i32.add (local.get $acc0) (i32.const 16)))
      (local.set $acc1 (i32.add (local.get $acc1) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $x) (local.get $end)))))

  ;; ---- Element-wise products for squaring, and the rescale's last step. ----

  ;; out[i] = a[i]·b[i] mod q, for a[i], b[i] < q < 2^50 ($qinv = 1/q); out may be a or b
  (func (export "mul_vec") (param $a i32) (param $b i32) (param $out i32) (param $n i32) (param $q i64) (param $qinv f64)
    (local $end i32) (local $vq v128) (local $vc v128) (local $x v128) (local $y v128) (local $r v128)
    (local.set $vq (i64x2.splat (local.get $q)))
    (local.set $vc (i64x2.splat (i64.mul (i64.const 0x4330000000000000) (local.get $q))))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $x (v128.load (local.get $a)))
      (local.set $y (v128.load (local.get $b)))
      (local.set $r (i64x2.add (i64x2.sub (i64x2.mul (local.get $x) (local.get $y))
        (i64x2.mul (f64x2.add (f64x2.mul (f64x2.mul (f64x2.sub (v128.or (local.get $x) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)) (f64x2.splat (local.get $qinv))) (f64x2.sub (v128.or (local.get $y) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52))) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vq)))
        (local.get $vc)))
      (v128.store (local.get $out) (i64x2.add (local.get $r) (v128.and (local.get $vq) (i64x2.lt_s (local.get $r) (v128.const i64x2 0 0)))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $a) (local.get $end)))))

  ;; mul_vec for q < 2^26, in doubles
  (func (export "mul_vec_small") (param $a i32) (param $b i32) (param $out i32) (param $n i32) (param $q f64)
    (local $end i32) (local $vq v128) (local $vinv v128) (local $r v128)
    (local.set $vq (f64x2.splat (local.get $q)))
    (local.set $vinv (f64x2.splat (f64.div (f64.const 1) (local.get $q))))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $r (f64x2.mul (f64x2.sub (v128.or (v128.load (local.get $a)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)) (f64x2.sub (v128.or (v128.load (local.get $b)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52))))
      (local.set $r (f64x2.sub (local.get $r) (f64x2.mul (f64x2.sub (f64x2.add (f64x2.mul (local.get $r) (local.get $vinv)) (v128.const f64x2 0x1p52 0x1p52)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vq))))
      (v128.store (local.get $out) (v128.xor (f64x2.add (f64x2.add (local.get $r) (v128.and (local.get $vq) (f64x2.lt (local.get $r) (v128.const f64x2 0 0)))) (v128.const f64x2 0x1p52 0x1p52)) (v128.const i64x2 0x4330000000000000 0x4330000000000000)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $a) (local.get $end)))))

  ;; out[i] = (a[i] + b[i]) mod q, for a[i], b[i] < q
  (func (export "add_vec") (param $a i32) (param $b i32) (param $out i32) (param $n i32) (param $q i64)
    (local $end i32) (local $vq v128) (local $r v128)
    (local.set $vq (i64x2.splat (local.get $q)))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $r (i64x2.sub (i64x2.add (v128.load (local.get $a)) (v128.load (local.get $b))) (local.get $vq)))
      (v128.store (local.get $out) (i64x2.add (local.get $r) (v128.and (local.get $vq) (i64x2.lt_s (local.get $r) (v128.const i64x2 0 0)))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $a) (local.get $end)))))

  ;; c[i] = (c[i] − t[i])·inv mod q: the last step of a rescale (inv = q_last^-1 mod q, invq = inv/q)
  (func (export "sub_mul") (param $c i32) (param $t i32) (param $n i32) (param $q i64) (param $inv i64) (param $invq f64)
    (local $end i32) (local $vq v128) (local $vc v128) (local $vw v128) (local $vwq v128) (local $d v128)
    (local.set $vq (i64x2.splat (local.get $q)))
    (local.set $vc (i64x2.splat (i64.mul (i64.const 0x4330000000000000) (local.get $q))))
    (local.set $vw (i64x2.splat (local.get $inv)))
    (local.set $vwq (f64x2.splat (local.get $invq)))
    (local.set $end (i32.add (local.get $c) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $d (i64x2.sub (v128.load (local.get $c)) (v128.load (local.get $t))))
      (local.set $d (i64x2.add (local.get $d) (v128.and (local.get $vq) (i64x2.lt_s (local.get $d) (v128.const i64x2 0 0)))))
      (local.set $d (i64x2.add (i64x2.sub (i64x2.mul (local.get $d) (local.get $vw))
        (i64x2.mul (f64x2.add (f64x2.mul (f64x2.sub (v128.or (local.get $d) (v128.const i64x2 0x4330000000000000 0x4330000000000000)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vwq)) (v128.const f64x2 0x1p52 0x1p52)) (local.get $vq))) (local.get $vc)))
      (v128.store (local.get $c) (i64x2.add (local.get $d) (v128.and (local.get $vq) (i64x2.lt_s (local.get $d) (v128.const i64x2 0 0)))))
      (local.set $c (i32.add (local.get $c) (i32.const 16)))
      (local.set $t (i32.add (local.get $t) (i32.const 16)))
      (br_if $next (i32.lt_u (local.get $c) (local.get $end)))))
  ;; ---- The special prime from 2^50 to below 2^61 (SEAL allows up to 60 bits). ----
  ;; Products of such residues exceed what a double's quotient estimate can fix (above), so the
  ;; NTTs use Shoup's products as SEAL does: the root table holds w' = floor(w·2^64/q) beside each
  ;; root w, and w·y mod q is approximated by w·y − hi64(y·w')·q, which lies in [0, 2q) for any
  ;; y < 2^64 (computed in wrapping 64-bit integers; exact since 2q < 2^62). hi64 is the high word
  ;; of a 64×64-bit product, from four 32×32-bit ones. Values stay below 4q < 2^63 (Harvey's lazy
  ;; butterflies); the last pass makes them canonical. Scalar code: these primes appear only as the
  ;; special prime, in 2D + 2 of a key switch's NTTs.

  ;; the high 64 bits of a·b (unsigned)
  (func $mulhi (param $a i64) (param $b i64) (result i64)
    (local $a0 i64) (local $a1 i64) (local $b0 i64) (local $b1 i64) (local $p01 i64) (local $p10 i64)
    (local.set $a0 (i64.and (local.get $a) (i64.const 0xffffffff)))
    (local.set $a1 (i64.shr_u (local.get $a) (i64.const 32)))
    (local.set $b0 (i64.and (local.get $b) (i64.const 0xffffffff)))
    (local.set $b1 (i64.shr_u (local.get $b) (i64.const 32)))
    (local.set $p01 (i64.mul (local.get $a0) (local.get $b1)))
    (local.set $p10 (i64.mul (local.get $a1) (local.get $b0)))
    (i64.add
      (i64.add (i64.mul (local.get $a1) (local.get $b1)) (i64.add (i64.shr_u (local.get $p01) (i64.const 32)) (i64.shr_u (local.get $p10) (i64.const 32))))
      (i64.shr_u
        (i64.add (i64.shr_u (i64.mul (local.get $a0) (local.get $b0)) (i64.const 32))
          (i64.add (i64.and (local.get $p01) (i64.const 0xffffffff)) (i64.and (local.get $p10) (i64.const 0xffffffff))))
        (i64.const 32))))

  ;; y·w mod q, lazily: in [0, 2q), for any y (w' = floor(w·2^64/q))
  (func $mul_shoup (param $y i64) (param $w i64) (param $ws i64) (param $q i64) (result i64)
    (i64.sub (i64.mul (local.get $y) (local.get $w)) (i64.mul (call $mulhi (local.get $y) (local.get $ws)) (local.get $q))))

  ;; v in [0, 4q) → [0, q)
  (func $canonical4 (param $v i64) (param $q i64) (result i64)
    (local.set $v (select (i64.sub (local.get $v) (i64.shl (local.get $q) (i64.const 1))) (local.get $v) (i64.ge_u (local.get $v) (i64.shl (local.get $q) (i64.const 1)))))
    (select (i64.sub (local.get $v) (local.get $q)) (local.get $v) (i64.ge_u (local.get $v) (local.get $q))))

  ;; ntt_forward for 2^50 ≤ q < 2^61 ($shoup: w' of each root)
  (func (export "ntt_forward_huge") (param $a i32) (param $roots i32) (param $shoup i32) (param $n i32) (param $q i64)
    (local $m i32) (local $gap i32) (local $i i32) (local $x i32) (local $y i32) (local $end i32)
    (local $w i64) (local $ws i64) (local $q2 i64) (local $u i64) (local $v i64)
    (local.set $q2 (i64.shl (local.get $q) (i64.const 1)))
    (local.set $m (i32.const 1))
    (local.set $gap (i32.shl (i32.shr_u (local.get $n) (i32.const 1)) (i32.const 3)))
    (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
    (local.set $shoup (i32.add (local.get $shoup) (i32.const 8)))
    (block $stages_done
      (loop $stage
        (br_if $stages_done (i32.lt_u (local.get $gap) (i32.const 8)))
        (local.set $x (local.get $a))
        (local.set $i (i32.const 0))
        (loop $block
          (local.set $w (i64.load (local.get $roots)))
          (local.set $ws (i64.load (local.get $shoup)))
          (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
          (local.set $shoup (i32.add (local.get $shoup) (i32.const 8)))
          (local.set $y (i32.add (local.get $x) (local.get $gap)))
          (local.set $end (local.get $y))
          (loop $butterfly
            ;; x, y in [0, 4q): u = x mod 2q, v = y·w in [0, 2q); x' = u + v, y' = u − v + 2q
            (local.set $u (i64.load (local.get $x)))
            (local.set $u (select (i64.sub (local.get $u) (local.get $q2)) (local.get $u) (i64.ge_u (local.get $u) (local.get $q2))))
            (local.set $v (call $mul_shoup (i64.load (local.get $y)) (local.get $w) (local.get $ws) (local.get $q)))
            (i64.store (local.get $x) (i64.add (local.get $u) (local.get $v)))
            (i64.store (local.get $y) (i64.add (i64.sub (local.get $u) (local.get $v)) (local.get $q2)))
            (local.set $x (i32.add (local.get $x) (i32.const 8)))
            (local.set $y (i32.add (local.get $y) (i32.const 8)))
            (br_if $butterfly (i32.lt_u (local.get $x) (local.get $end))))
          (local.set $x (local.get $y))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $block (i32.lt_u (local.get $i) (local.get $m))))
        (local.set $m (i32.shl (local.get $m) (i32.const 1)))
        (local.set $gap (i32.shr_u (local.get $gap) (i32.const 1)))
        (br $stage)))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $fix
      (i64.store (local.get $a) (call $canonical4 (i64.load (local.get $a)) (local.get $q)))
      (local.set $a (i32.add (local.get $a) (i32.const 8)))
      (br_if $fix (i32.lt_u (local.get $a) (local.get $end)))))

  ;; ntt_inverse for 2^50 ≤ q < 2^61, then × n^-1 ($ninvs = floor(ninv·2^64/q))
  (func (export "ntt_inverse_huge") (param $a i32) (param $roots i32) (param $shoup i32) (param $n i32) (param $q i64) (param $ninv i64) (param $ninvs i64)
    (local $m i32) (local $gap i32) (local $i i32) (local $x i32) (local $y i32) (local $end i32)
    (local $w i64) (local $ws i64) (local $q2 i64) (local $u i64) (local $v i64)
    (local.set $q2 (i64.shl (local.get $q) (i64.const 1)))
    (local.set $m (i32.shr_u (local.get $n) (i32.const 1)))
    (local.set $gap (i32.const 8))
    (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
    (local.set $shoup (i32.add (local.get $shoup) (i32.const 8)))
    (block $stages_done
      (loop $stage
        (br_if $stages_done (i32.eqz (local.get $m)))
        (local.set $x (local.get $a))
        (local.set $i (i32.const 0))
        (loop $block
          (local.set $w (i64.load (local.get $roots)))
          (local.set $ws (i64.load (local.get $shoup)))
          (local.set $roots (i32.add (local.get $roots) (i32.const 8)))
          (local.set $shoup (i32.add (local.get $shoup) (i32.const 8)))
          (local.set $y (i32.add (local.get $x) (local.get $gap)))
          (local.set $end (local.get $y))
          (loop $butterfly
            ;; x, y in [0, 2q): x' = (x + y) mod 2q, y' = (x − y + 2q)·w in [0, 2q)
            (local.set $u (i64.load (local.get $x)))
            (local.set $v (i64.load (local.get $y)))
            (i64.store (local.get $y) (call $mul_shoup (i64.add (i64.sub (local.get $u) (local.get $v)) (local.get $q2)) (local.get $w) (local.get $ws) (local.get $q)))
            (local.set $u (i64.add (local.get $u) (local.get $v)))
            (i64.store (local.get $x) (select (i64.sub (local.get $u) (local.get $q2)) (local.get $u) (i64.ge_u (local.get $u) (local.get $q2))))
            (local.set $x (i32.add (local.get $x) (i32.const 8)))
            (local.set $y (i32.add (local.get $y) (i32.const 8)))
            (br_if $butterfly (i32.lt_u (local.get $x) (local.get $end))))
          (local.set $x (local.get $y))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $block (i32.lt_u (local.get $i) (local.get $m))))
        (local.set $m (i32.shr_u (local.get $m) (i32.const 1)))
        (local.set $gap (i32.shl (local.get $gap) (i32.const 1)))
        (br $stage)))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (loop $scale
      (i64.store (local.get $a) (call $canonical4 (call $mul_shoup (i64.load (local.get $a)) (local.get $ninv) (local.get $ninvs) (local.get $q)) (local.get $q)))
      (local.set $a (i32.add (local.get $a) (i32.const 8)))
      (br_if $scale (i32.lt_u (local.get $a) (local.get $end)))))

  ;; x·y mod q in [0, q), for x, y < q < 2^61 ($qinv = 1/q): with y = y1·2^31 + y0,
  ;; r1 = x·y1 mod q, then (r1·2^31 + x·y0) mod q. Each quotient (below 2^33) is estimated in double
  ;; precision within 2^-17 and rounded to the nearest integer, so each remainder, computed in
  ;; wrapping 64-bit integers, is exact and in (−q, q); adding q where negative makes it canonical.
  ;; The rounding: v + 2^52 for 0 ≤ v < 2^51 is rounded to an integer (ties to even, as
  ;; f64.nearest), read from its bits less 2^52's; cheaper than nearest and trunc_sat, same values.
  (func $mulmod_huge (param $x i64) (param $xf f64) (param $y i64) (param $q i64) (param $qinv f64) (result i64)
    (local $y1 i64) (local $y0 i64) (local $r i64)
    (local.set $y1 (i64.shr_u (local.get $y) (i64.const 31)))
    (local.set $y0 (i64.and (local.get $y) (i64.const 0x7fffffff)))
    (local.set $r (i64.sub (i64.mul (local.get $x) (local.get $y1))
      (i64.mul (i64.sub (i64.reinterpret_f64 (f64.add (f64.mul (f64.mul (local.get $xf) (f64.convert_i64_s (local.get $y1))) (local.get $qinv)) (f64.const 0x1p52))) (i64.const 0x4330000000000000)) (local.get $q))))
    (local.set $r (select (i64.add (local.get $r) (local.get $q)) (local.get $r) (i64.lt_s (local.get $r) (i64.const 0))))
    (local.set $r (i64.sub (i64.add (i64.shl (local.get $r) (i64.const 31)) (i64.mul (local.get $x) (local.get $y0)))
      (i64.mul (i64.sub (i64.reinterpret_f64 (f64.add (f64.mul (f64.add (f64.mul (f64.convert_i64_s (local.get $r)) (f64.const 0x1p31)) (f64.mul (local.get $xf) (f64.convert_i64_s (local.get $y0)))) (local.get $qinv)) (f64.const 0x1p52))) (i64.const 0x4330000000000000)) (local.get $q))))
    (select (i64.add (local.get $r) (local.get $q)) (local.get $r) (i64.lt_s (local.get $r) (i64.const 0))))

  ;; mac_key for 2^50 ≤ q < 2^61
  (func (export "mac_key_huge") (param $x i32) (param $k0 i32) (param $k1 i32) (param $acc0 i32) (param $acc1 i32) (param $n i32) (param $q i64) (param $qinv f64)
    (local $end i32) (local $xv i64) (local $xf f64) (local $r i64)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $xv (i64.load (local.get $x)))
      (local.set $xf (f64.convert_i64_s (local.get $xv)))
      (local.set $r (i64.sub (i64.add (i64.load (local.get $acc0)) (call $mulmod_huge (local.get $xv) (local.get $xf) (i64.load (local.get $k0)) (local.get $q) (local.get $qinv))) (local.get $q)))
      (i64.store (local.get $acc0) (select (i64.add (local.get $r) (local.get $q)) (local.get $r) (i64.lt_s (local.get $r) (i64.const 0))))
      (local.set $r (i64.sub (i64.add (i64.load (local.get $acc1)) (call $mulmod_huge (local.get $xv) (local.get $xf) (i64.load (local.get $k1)) (local.get $q) (local.get $qinv))) (local.get $q)))
      (i64.store (local.get $acc1) (select (i64.add (local.get $r) (local.get $q)) (local.get $r) (i64.lt_s (local.get $r) (i64.const 0))))
      (local.set $x (i32.add (local.get $x) (i32.const 8)))
      (local.set $k0 (i32.add (local.get $k0) (i32.const 8)))
      (local.set $k1 (i32.add (local.get $k1) (i32.const 8)))
      (local.set $acc0 (i32.add (local.get $acc0) (i32.const 8)))
      (local.set $acc1 (i32.add (local.get $acc1) (i32.const 8)))
      (br_if $next (i32.lt_u (local.get $x) (local.get $end)))))

  ;; dst[i] = src[i] mod q, for src[i] < 2^61 and q < 2^50 ($qinv = 1/q): the quotient (below 2^35)
  ;; is estimated within 2^-16 and rounded to the nearest integer (as in $mulmod_huge), so
  ;; r = src − k·q is in (−q, q).
  (func (export "reduce_wide") (param $src i32) (param $dst i32) (param $n i32) (param $q i64) (param $qinv f64)
    (local $end i32) (local $x i64) (local $r i64)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 3))))
    (loop $next
      (local.set $x (i64.load (local.get $src)))
      (local.set $r (i64.sub (local.get $x) (i64.mul (i64.sub (i64.reinterpret_f64 (f64.add (f64.mul (f64.convert_i64_s (local.get $x)) (local.get $qinv)) (f64.const 0x1p52))) (i64.const 0x4330000000000000)) (local.get $q))))
      (i64.store (local.get $dst) (select (i64.add (local.get $r) (local.get $q)) (local.get $r) (i64.lt_s (local.get $r) (i64.const 0))))
      (local.set $src (i32.add (local.get $src) (i32.const 8)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
      (br_if $next (i32.lt_u (local.get $src) (local.get $end)))))
)
