;; Multiply-accumulate of one RNS limb of a CKKS ciphertext by a scalar, on SEAL's own memory.
;; Build: `npm run build:kernels` (wabt) writes mac-wasm.ts; a test checks the two agree.
;;
;; Coefficients x are residues mod q (q < 2^50) stored as u64. For each one,
;;   r = x·w − k·q, with k = floor(x · (w/q)) in double precision,
;; computed with wrapping 64-bit integer products: the estimate of k is off by at most one, so the
;; true r lies in (−q, 2q) and the wrapped difference is exact. The accumulator is signed 64-bit
;; (|r| < 2^51, so 2^12 terms cannot overflow); `store` reduces it into [0, q).
;;
;; For primes below 2^26 (`mac_small`, two coefficients at a time in SIMD) x·w < 2^52 is exact in
;; double precision, so r = t − floor(t/q)·q is computed in doubles and accumulated in a double
;; accumulator (|r| < 2q; exact below 2^53, i.e. for 2^25 terms); `store_small` reduces it.
;;
;; `mac_vec` and `mac_vec_small` do the same with a weight per coefficient (a plaintext in NTT form,
;; one limb, as SEAL's multiply_plain takes it): acc[i] += x[i]·d[i]. For q < 2^50 the quotient
;; estimate floor(x·d·(1/q)) carries three roundings of relative size 2^-53 on a value below
;; q < 2^50, an absolute error below 1/2: it is still off by at most one, so r lies in (−q, 2q).
(module
  (import "env" "memory" (memory 1))

  ;; acc[i] += x[i]·w mod q (lazily reduced), doubles, q < 2^26, n even
  (func (export "mac_small") (param $x i32) (param $acc i32) (param $n i32) (param $w f64) (param $q f64) (param $inv f64)
    (local $end i32) (local $vw v128) (local $vq v128) (local $vinv v128) (local $t v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))
    (local.set $vw (f64x2.splat (local.get $w)))
    (local.set $vq (f64x2.splat (local.get $q)))
    (local.set $vinv (f64x2.splat (local.get $inv)))
    (block $done
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (loop $next
        ;; two u64 coefficients below 2^26: their low words are lanes 0 and 2 of the i32x4
        (local.set $t (f64x2.mul
          (f64x2.convert_low_i32x4_u (i8x16.shuffle 0 1 2 3 8 9 10 11 0 1 2 3 8 9 10 11 (v128.load (local.get $x)) (v128.load (local.get $x))))
          (local.get $vw)))
        (v128.store (local.get $acc)
          (f64x2.add (v128.load (local.get $acc))
            (f64x2.sub (local.get $t) (f64x2.mul (f64x2.floor (f64x2.mul (local.get $t) (local.get $vinv))) (local.get $vq)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
        (br_if $next (i32.lt_u (local.get $x) (local.get $end))))))

  ;; out[i] = acc[i] mod q in [0, q) as u64, from a double accumulator
  (func (export "store_small") (param $acc i32) (param $out i32) (param $n i32) (param $q f64) (param $inv f64)
    (local $end i32) (local $a f64) (local $r f64)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (loop $next
        (local.set $a (f64.load (local.get $acc)))
        (local.set $r (f64.sub (local.get $a) (f64.mul (f64.floor (f64.mul (local.get $a) (local.get $inv))) (local.get $q))))
        (if (f64.lt (local.get $r) (f64.const 0)) (then (local.set $r (f64.add (local.get $r) (local.get $q)))))
        (if (f64.ge (local.get $r) (local.get $q)) (then (local.set $r (f64.sub (local.get $r) (local.get $q)))))
        (i64.store (local.get $out) (i64.trunc_f64_u (local.get $r)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 8)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (br_if $next (i32.lt_u (local.get $acc) (local.get $end))))))

  ;; acc[i] += x[i]·w mod q (lazily reduced), for i in [0, n)
  (func (export "mac") (param $x i32) (param $acc i32) (param $n i32) (param $w i64) (param $q i64) (param $winv f64)
    (local $end i32) (local $xv i64) (local $k i64)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (loop $next
        (local.set $xv (i64.load (local.get $x)))
        (local.set $k (i64.trunc_sat_f64_s (f64.floor (f64.mul (f64.convert_i64_u (local.get $xv)) (local.get $winv)))))
        (i64.store (local.get $acc)
          (i64.add (i64.load (local.get $acc))
            (i64.sub (i64.mul (local.get $xv) (local.get $w)) (i64.mul (local.get $k) (local.get $q)))))
        (local.set $x (i32.add (local.get $x) (i32.const 8)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 8)))
        (br_if $next (i32.lt_u (local.get $x) (local.get $end))))))

  ;; out[i] = acc[i] mod q in [0, q), for i in [0, n)
  (func (export "store") (param $acc i32) (param $out i32) (param $n i32) (param $q i64)
    (local $end i32) (local $r i64)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (loop $next
        (local.set $r (i64.rem_s (i64.load (local.get $acc)) (local.get $q)))
        (if (i64.lt_s (local.get $r) (i64.const 0)) (then (local.set $r (i64.add (local.get $r) (local.get $q)))))
        (i64.store (local.get $out) (local.get $r))
        (local.set $acc (i32.add (local.get $acc) (i32.const 8)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (br_if $next (i32.lt_u (local.get $acc) (local.get $end))))))

  ;; acc[i] += x[i]·d[i] mod q (lazily reduced), doubles, q < 2^26, n even
  (func (export "mac_vec_small") (param $x i32) (param $d i32) (param $acc i32) (param $n i32) (param $q f64) (param $inv f64)
    (local $end i32) (local $vq v128) (local $vinv v128) (local $t v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))
    (local.set $vq (f64x2.splat (local.get $q)))
    (local.set $vinv (f64x2.splat (local.get $inv)))
    (block $done
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (loop $next
        ;; x·d < 2^52: exact in double precision
        (local.set $t (f64x2.mul
          (f64x2.convert_low_i32x4_u (i8x16.shuffle 0 1 2 3 8 9 10 11 0 1 2 3 8 9 10 11 (v128.load (local.get $x)) (v128.load (local.get $x))))
          (f64x2.convert_low_i32x4_u (i8x16.shuffle 0 1 2 3 8 9 10 11 0 1 2 3 8 9 10 11 (v128.load (local.get $d)) (v128.load (local.get $d))))))
        (v128.store (local.get $acc)
          (f64x2.add (v128.load (local.get $acc))
            (f64x2.sub (local.get $t) (f64x2.mul (f64x2.floor (f64x2.mul (local.get $t) (local.get $vinv))) (local.get $vq)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
        (br_if $next (i32.lt_u (local.get $x) (local.get $end))))))

  ;; acc[i] += x[i]·d[i] mod q (lazily reduced), 64-bit integers, q < 2^50
  (func (export "mac_vec") (param $x i32) (param $d i32) (param $acc i32) (param $n i32) (param $q i64) (param $inv f64)
    (local $end i32) (local $xv i64) (local $dv i64) (local $k i64)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (loop $next
        (local.set $xv (i64.load (local.get $x)))
        (local.set $dv (i64.load (local.get $d)))
        (local.set $k (i64.trunc_sat_f64_s (f64.floor (f64.mul (f64.mul (f64.convert_i64_u (local.get $xv)) (f64.convert_i64_u (local.get $dv))) (local.get $inv)))))
        (i64.store (local.get $acc)
          (i64.add (i64.load (local.get $acc))
            (i64.sub (i64.mul (local.get $xv) (local.get $dv)) (i64.mul (local.get $k) (local.get $q)))))
        (local.set $x (i32.add (local.get $x) (i32.const 8)))
        (local.set $d (i32.add (local.get $d) (i32.const 8)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 8)))
        (br_if $next (i32.lt_u (local.get $x) (local.get $end))))))
)
