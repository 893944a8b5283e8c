"""Verdicts on the course report's claims: a measured number, its noise, and a status.

    v = at_least(0.62, 0.5, noise=0.07, claim="digits are recognisable by half-way")
    v                         # shown in a notebook as "**Supported:** ..." (Verdict._repr_markdown_)
    v.status                  # "supported", "not supported", "partly supported" or "cannot tell"

A verdict never calls a difference smaller than its noise a finding: where the measurement
cannot decide (the interval straddles the threshold, both values sit at a ceiling), the status is
"cannot tell". The noise of an accuracy measured on n digits is binomial (wilson_interval); the
noise of a distance is its real-vs-real spread (helpers.evaluate.real_vs_real_spread).
"""
import math
from dataclasses import dataclass, field

from .evaluate import mean_noise

SUPPORTED, NOT_SUPPORTED, PARTLY, CANNOT_TELL = "supported", "not supported", "partly supported", "cannot tell"
STATUSES = (SUPPORTED, NOT_SUPPORTED, PARTLY, CANNOT_TELL)


@dataclass
class Verdict:
    """A status and the sentence that justifies it with the measured numbers."""
    status: str
    text: str
    numbers: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown verdict status {self.status!r}: use one of {STATUSES}")

    def __str__(self) -> str:
        return f"{self.status.capitalize()}: {self.text}"

    def _repr_markdown_(self) -> str:
        return f"**{self.status.capitalize()}:** {self.text}"


# noise ----------------------------------------------------------------------------------------

def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple:
    """The 95 % (z = 1.96) Wilson score interval (lo, hi) of a proportion k / n."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_noise(p: float, n: int, z: float = 1.96) -> float:
    """Half the width of the Wilson interval of a proportion p measured on n items."""
    lo, hi = wilson_interval(round(p * n), n, z)
    return (hi - lo) / 2


def binomial_noise(p: float, q: float, n: int) -> float:
    """Two standard errors of the difference of proportions p and q, each of n items (normal
    approximation; helpers.evaluate.accuracy_noise is the same with its inputs checked)."""
    return 2 * math.sqrt((p * (1 - p) + q * (1 - q)) / n)


def difference_noise(p1: float, p2: float, n: int) -> float:
    """The noise of the difference of two proportions, each measured on n items (their
    proportion_noise added in quadrature)."""
    return math.hypot(proportion_noise(p1, n), proportion_noise(p2, n))


def at_ceiling(p: float, n: int, level: float = 0.9) -> bool:
    """Is a proportion p of n items at the ceiling: the lower end of its Wilson interval >= level?"""
    return wilson_interval(round(p * n), n)[0] >= level


# generic verdicts -----------------------------------------------------------------------------

def at_least(value: float, level: float, noise: float = 0.0, claim: str = "", unit: str = "") -> Verdict:
    """Is value >= level? supported when value - noise >= level, not supported when
    value + noise < level, cannot tell in between."""
    lo, hi = value - noise, value + noise
    status = SUPPORTED if lo >= level else NOT_SUPPORTED if hi < level else CANNOT_TELL
    pm = f" ± {noise:.3g}{unit}" if noise else ""
    return Verdict(status, f"{claim}: measured {value:.3g}{unit}{pm} against {level:.3g}{unit}." if claim else
                   f"measured {value:.3g}{unit}{pm} against {level:.3g}{unit}.",
                   {"value": value, "level": level, "noise": noise})


def differs(a: float, b: float, noise: float) -> int:
    """+1 if a exceeds b by more than noise, -1 if b exceeds a by more than noise, 0 within noise."""
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    return 1 if a - b > noise else -1 if b - a > noise else 0


def better(a: float, b: float, noise: float, claim: str = "", names=("a", "b"), higher_is_better: bool = True) -> Verdict:
    """Is a better than b beyond the measurement noise (the noise of their difference)?"""
    d = differs(a, b, noise) * (1 if higher_is_better else -1)
    status = SUPPORTED if d > 0 else NOT_SUPPORTED if d < 0 else CANNOT_TELL
    text = (f"{names[0]} {a:.3g} against {names[1]} {b:.3g}, a difference of {a - b:+.3g} "
            f"with noise ± {noise:.3g}" + (" (within the noise)" if d == 0 else ""))
    return Verdict(status, (f"{claim}: " if claim else "") + text + ".", {"a": a, "b": b, "noise": noise})


def within(value: float, lo: float, hi: float, noise: float = 0.0, claim: str = "") -> Verdict:
    """Does value lie in [lo, hi]? supported when value ± noise lies inside, not supported when it
    lies wholly outside, cannot tell when it straddles an edge."""
    a, b = value - noise, value + noise
    status = SUPPORTED if lo <= a and b <= hi else NOT_SUPPORTED if b < lo or a > hi else CANNOT_TELL
    pm = f" ± {noise:.3g}" if noise else ""
    return Verdict(status, (f"{claim}: " if claim else "") + f"measured {value:.3g}{pm}, the claim says {lo:.3g}–{hi:.3g}.",
                   {"value": value, "lo": lo, "hi": hi, "noise": noise})


def combine(verdicts, text: str) -> Verdict:
    """One verdict from several parts of a claim: supported if all are, not supported if none is
    supported (and one is not), cannot tell if any part cannot tell and none contradicts, partly otherwise."""
    s = [v.status for v in verdicts]
    if all(x == SUPPORTED for x in s):
        status = SUPPORTED
    elif CANNOT_TELL in s and NOT_SUPPORTED not in s and SUPPORTED not in s:
        status = CANNOT_TELL
    elif SUPPORTED not in s and PARTLY not in s and NOT_SUPPORTED in s:
        status = NOT_SUPPORTED
    else:
        status = PARTLY
    return Verdict(status, text, {"parts": [v.status for v in verdicts]})


# the report's claims: forward diffusion (notebook 01) ----------------------------------------

def noise_completes(t: int, alpha_bar: float, mean: float, std: float, corr: float, n: int,
                    z: float = 3.0, resolution: float = 0.05) -> Verdict:
    """"A complete conversion into noise": is x_t at the last step t pure N(0, 1) noise?

    mean, std: of its n pixel values; corr: their correlation with the clean pixels. Noise that is
    independent of the digit gives 0, 1 and 0 up to z standard errors (1/sqrt(n), 1/sqrt(2n) and
    1/sqrt(n); z = 3 as three numbers are tested at once). Supported when all three lie inside,
    not supported when one lies outside, cannot tell when n is too small to see a correlation of
    `resolution`.
    """
    se = 1 / math.sqrt(n)
    off = [name for name, d, s in (("mean", abs(mean), se), ("standard deviation", abs(std - 1), se / math.sqrt(2)),
                                   ("correlation", abs(corr), se)) if d > z * s]
    status = CANNOT_TELL if z * se > resolution else NOT_SUPPORTED if off else SUPPORTED
    text = (f"at t = {t}, alpha_bar = {alpha_bar:.2g}: x_t keeps sqrt(alpha_bar) = {math.sqrt(alpha_bar):.2g} of the "
            f"digit. Its {n:,} pixels have mean {mean:.3f} and standard deviation {std:.3f} (N(0, 1): 0 and 1), and "
            f"their correlation with the clean pixels is {corr:.4f} (pure noise: 0 ± {z * se:.4f}). ")
    text += {SUPPORTED: "The end of the forward process is pure noise, as the report says.",
             NOT_SUPPORTED: f"The {' and '.join(off)} differ from pure noise beyond the noise of {n:,} values: "
                            f"a trace of the digit is left.",
             CANNOT_TELL: f"{n:,} values cannot show a correlation below {z * se:.2f}."}[status]
    return Verdict(status, text, {"off": off, "noise": z * se})


def cosine_spreads_destruction(linear: dict, cosine: dict, T: int) -> Verdict:
    """Does the cosine schedule destroy the signal later, more evenly over t, than the linear one?

    linear, cosine: {level: first t with alpha_bar_t < level, None if never} for the same levels
    (analysis.destruction_times). Supported if cosine falls below every level later than linear,
    not supported if it is later at none, partly otherwise. The text also gives the share of the
    T steps each spends below the smallest level (images that are nearly all noise).
    """
    levels = sorted(linear, reverse=True)
    when = lambda d, a: T if d[a] is None else d[a]
    later = [when(cosine, a) > when(linear, a) for a in levels]
    status = SUPPORTED if all(later) else NOT_SUPPORTED if not any(later) else PARTLY
    hi, lo = levels[0], levels[-1]
    at = lambda d, a: "never" if d[a] is None else f"at t = {d[a]} ({d[a] / T:.0%} of the way)"
    left = {k: (T - when(d, lo)) / T for k, d in (("linear", linear), ("cosine", cosine))}
    text = (f"with T = {T}, the linear schedule drops below alpha_bar = {hi:g} {at(linear, hi)} and below {lo:g} "
            f"{at(linear, lo)}; the cosine schedule below {hi:g} {at(cosine, hi)} and below {lo:g} {at(cosine, lo)}. "
            f"The linear schedule spends its last {left['linear']:.0%} of steps on images that are over "
            f"{1 - lo:.0%} noise, the cosine one {left['cosine']:.0%}")
    text += {SUPPORTED: ": the cosine schedule spreads the destruction more evenly over t (why Nichol & Dhariwal "
                        "chose it for small images, and the course uses it).",
             NOT_SUPPORTED: ": here the cosine schedule destroys the signal no later than the linear one.",
             PARTLY: ": the cosine schedule is later at some levels only."}[status]
    return Verdict(status, text, {"later": later, "left_linear": left["linear"], "left_cosine": left["cosine"]})


def noise_per_step_regular(betas, name: str = "the", factor: float = 2.0) -> Verdict:
    """"Noise at regular time intervals": the steps are one t apart, but is the noise added per step
    (beta_t) regular too? Supported when beta_t varies by at most `factor` (largest / smallest),
    not supported otherwise."""
    b = [float(x) for x in betas]
    ratio = max(b) / min(b)
    status = SUPPORTED if ratio <= factor else NOT_SUPPORTED
    text = f"the steps are regular in t; {name} schedule's beta_t (the noise added per step) goes from {b[0]:.2g} to {b[-1]:.3g}"
    text += (f", within a factor of {ratio:.2g}: the noise per step is regular too." if status == SUPPORTED else
             f", a factor of {ratio:,.0f} between its smallest and largest value: the noise per step is far from regular.")
    return Verdict(status, text, {"ratio": ratio})


def training_adds_noise_gradually(seq_std, jump_std, n: int, tol: float = 0.02, z: float = 3.0) -> Verdict:
    """"The model trains through numerous small denoising steps because of gradual noise addition."

    seq_std, jump_std: residual standard deviations (analysis.noise_residual_std) of x_t reached by
    the t + 1 small steps of the chain and by the one closed-form jump that training uses, each
    over n values; 1 means x_t ~ q(x_t | x0), with noise z / sqrt(2 n). Every value within 1 ± tol
    (noise included): the jump gives the chain's distribution, so nothing needs adding gradually
    while training: not supported. A value off by more than tol, or one the noise cannot place:
    cannot tell.
    """
    noise = z / math.sqrt(2 * n)
    values = list(seq_std) + list(jump_std)
    agree = all(abs(s - 1) + noise <= tol for s in values)
    text = (f"step by step or in one jump, the residual's standard deviation is {min(values):.3f}–{max(values):.3f} "
            f"(1 = exact agreement; noise ± {noise:.3f}, agreement within 1 ± {tol:g}). ")
    text += ("Training uses the jump: every example gets one random t and one draw of noise, and the network learns "
             "to remove it in one prediction. Nothing is added gradually while training; the gradual part is the "
             "reverse process at sampling time." if agree else
             "The check does not show that the one jump reproduces the chain, so it cannot rule the claim out.")
    return Verdict(NOT_SUPPORTED if agree else CANNOT_TELL, text, {"noise": noise})


def one_call_suffices_at_low_noise(t: int, mse_one: float, mse_reverse: float, noise: float,
                                   level: float = 0.02, calls: "int | None" = None) -> Verdict:
    """At little noise (the smallest t), does one network call recover the digit as well as the
    reverse process? mse_*: MSE to the true digit in [-1, 1]; noise: that of their difference
    (analysis.recovery_experiment's "noise_mse"); calls: the reverse process's network calls from t
    (1: it is the same computation as one call, and the text says so). Supported when one call's
    MSE is below level and not worse than the reverse process's beyond the noise, not supported
    otherwise."""
    worse = differs(mse_one, mse_reverse, noise) > 0
    status = SUPPORTED if mse_one < level and not worse else NOT_SUPPORTED
    same = (" (from this t the reverse process is a single call too, so the two coincide: compare the larger t "
            "in the table)" if calls == 1 else "")
    text = (f"at t = {t} one call's MSE is {mse_one:.4f}, the reverse process's {mse_reverse:.4f}"
            + (same if same else f" (noise ± {noise:.2g})"))
    text += (": one call already recovers the digit. Gradual denoising is not needed where little was destroyed."
             if status == SUPPORTED else ": the reverse process recovers the digit better, beyond the noise." if worse
             else f": above {level:g}, so neither recovers the digit well at this t.")
    return Verdict(status, text, {"worse": worse})


def reverse_is_sharper(ts, gray_one, gray_reverse, gray_real: float, noise, calls) -> Verdict:
    """Where one call is blurriest, does the reverse process give a sharper digit? gray_*: the
    mid-grey fractions over ts; noise: that of their difference at each t ("noise_gray"); calls:
    the reverse process's network calls at each t. Supported when one call is greyer beyond the
    noise, not supported when the reverse process is, cannot tell within the noise. numbers hold
    the blurriest t ("t") and one call's extra grey there ("extra_grey")."""
    i = max(range(len(ts)), key=lambda k: gray_one[k])
    d = differs(gray_one[i], gray_reverse[i], noise[i])
    status = SUPPORTED if d > 0 else NOT_SUPPORTED if d < 0 else CANNOT_TELL
    text = (f"real digits have {gray_real:.1%} mid-grey pixels. One call is greyest at t = {ts[i]} ({gray_one[i]:.1%}), "
            f"where the reverse process gives {gray_reverse[i]:.1%} (noise ± {noise[i]:.1%})")
    text += {SUPPORTED: f". One call predicts the *average* of all digits that could hide under the noise, a blur; "
                        f"the {calls[i]} small steps commit to one sharp digit, re-estimating it at every step.",
             NOT_SUPPORTED: ": here the reverse process is the greyer one.",
             CANNOT_TELL: ": within the noise, the reverse process is no sharper than one call."}[status]
    return Verdict(status, text, {"t": ts[i], "extra_grey": gray_one[i] - gray_reverse[i]})


def gradual_recovers_closer(ts, mse_one, mse_reverse, noise) -> Verdict:
    """Do the small steps of the reverse process end closer to the initial digit (smaller MSE) than
    one call from the same x_t? Lists over ts; noise: that of the difference at each t. Supported
    when the reverse process is closer beyond the noise at some t and farther at none, not supported
    when it is farther at some t and closer at none, partly when both, cannot tell when every t ties."""
    d = [differs(a, b, s) for a, b, s in zip(mse_one, mse_reverse, noise)]
    closer, farther = [t for t, k in zip(ts, d) if k > 0], [t for t, k in zip(ts, d) if k < 0]
    tied = [t for t, k in zip(ts, d) if k == 0]
    status = (CANNOT_TELL if not closer and not farther else SUPPORTED if not farther else
              NOT_SUPPORTED if not closer else PARTLY)
    parts = ([f"the reverse process has the *larger* error at t = {_listing(farther)}"] if farther else []) + \
            ([f"the smaller error at t = {_listing(closer)}"] if closer else []) + \
            ([f"the two agree within the noise at t = {_listing(tied)}"] if tied else [])
    text = "MSE to the initial digit: " + "; ".join(parts)
    text += (". A sharp digit that differs from the original costs more squared error than a blur, since the "
             "one-call estimate is the network's best guess of the average (the MSE-optimal answer)." if farther else ".")
    return Verdict(status, text, {"closer": closer, "farther": farther, "tied": tied})


def initial_image_lost(ts, acc_one, acc_reverse, n: int, chance: float = 0.1, level: float = 0.9) -> Verdict:
    """With the label hidden, is the initial digit's identity lost from the last (noisiest) t, one
    call or many? acc_*: classifier accuracy over ts on n digits (None: no classifier). A way has
    lost it when its accuracy is not above chance beyond its 95% Wilson interval. Supported when
    both have, not supported when neither has, partly otherwise, cannot tell without a classifier."""
    if acc_one[-1] is None or acc_reverse[-1] is None:
        return Verdict(CANNOT_TELL, "no classifier, so the digits' identity was not measured.", {})
    below = lambda acc: next((f"t = {t}" for t, a in zip(ts, acc) if a < level), f"no t up to {ts[-1]}")
    ways = {"one call": acc_one[-1], "the reverse process": acc_reverse[-1]}
    ci = {k: wilson_interval(round(a * n), n) for k, a in ways.items()}
    kept = [k for k in ways if ci[k][0] > chance]
    status = SUPPORTED if not kept else NOT_SUPPORTED if len(kept) == 2 else PARTLY
    text = (f"with the label hidden, accuracy first falls below {level:.0%} at {below(acc_one)} (one call) and "
            f"{below(acc_reverse)} (reverse). At t = {ts[-1]} the classifier reads the original digit in "
            f"{acc_one[-1]:.0%} of one-call estimates and {acc_reverse[-1]:.0%} of reverse-process results "
            f"(95% intervals {ci['one call'][0]:.0%}–{ci['one call'][1]:.0%} and "
            f"{ci['the reverse process'][0]:.0%}–{ci['the reverse process'][1]:.0%} on {n} digits; chance {chance:.0%})")
    text += {SUPPORTED: ": both are near chance. **No method recovers the initial image from pure noise**, one step or many.",
             NOT_SUPPORTED: ": both are above chance, so some of the digit's identity survives even this t.",
             PARTLY: f": only {kept[0] if kept else ''} keeps some of the digit's identity."}[status]
    return Verdict(status, text, {"kept": kept})


def steps_needed_to_generate(t: int, acc_one, acc_reverse, gray_one: float, gray_reverse: float, gray_real: float,
                             n: int) -> Verdict:
    """Told the label, from (almost) pure noise at t: does it take the many small steps to produce a
    digit of the requested class? acc_*: the classifier's accuracy on n digits (None: no classifier).
    Supported when the reverse process is more accurate than one call beyond their binomial noise,
    not supported when one call is, cannot tell within the noise or without a classifier."""
    grey = (f"mid-grey pixels {gray_one:.1%} (one call) against {gray_reverse:.1%} (reverse) and {gray_real:.1%} "
            f"(real digits)")
    if acc_one is None or acc_reverse is None:
        return Verdict(CANNOT_TELL, f"told the label, from t = {t}: {grey}; no classifier, so which digit was made "
                                    f"was not measured.", {})
    noise = difference_noise(acc_one, acc_reverse, n)
    d = differs(acc_reverse, acc_one, noise)
    status = SUPPORTED if d > 0 else NOT_SUPPORTED if d < 0 else CANNOT_TELL
    text = (f"told the label, from t = {t}: the classifier reads the requested digit in {acc_one:.0%} of one-call "
            f"results and {acc_reverse:.0%} of reverse-process results (noise ± {noise:.0%}, {n} digits); {grey}. ")
    text += {SUPPORTED: "Generating a digit takes the many small steps: one call does not make it.",
             NOT_SUPPORTED: "One call makes the requested digit more often than the reverse process.",
             CANNOT_TELL: "Within the noise, one call and the reverse process make the requested digit equally often."}[status]
    return Verdict(status, text, {"noise": noise})


def guidance_explains_one_step(t: int, plain: tuple, guided: tuple, w: float, n: int, ceiling: float = 0.9) -> Verdict:
    """Do notebook 01's one call and notebook 04's one-step sampler (which runs at guidance scale w)
    agree, and if not, is the guidance why? plain, guided: (one-call accuracy, reverse-process
    accuracy) told the label, from t, at w = 1 and at w, each on n digits (None: no classifier).
    Supported when guidance raises one call's accuracy beyond the binomial noise; cannot tell when
    one call is at the ceiling already at w = 1 (the lower end of its Wilson interval at least
    `ceiling`: then the two notebooks agree and there is nothing for guidance to explain), or
    without a classifier; not supported otherwise."""
    if None in (*plain, *guided):
        return Verdict(CANNOT_TELL, "no classifier, so the guided digits were not read.", {})
    noise = difference_noise(plain[0], guided[0], n)
    d = differs(guided[0], plain[0], noise)
    top = at_ceiling(plain[0], n, ceiling)
    status = SUPPORTED if d > 0 else CANNOT_TELL if top else NOT_SUPPORTED
    text = (f"told the label, from t = {t}, one call makes the requested digit in {plain[0]:.0%} of {n} cases at w = 1 "
            f"and {guided[0]:.0%} at w = {w:g} (noise ± {noise:.0%}); the reverse process in {plain[1]:.0%} and "
            f"{guided[1]:.0%}. ")
    text += {SUPPORTED: "Guidance is what lifts a single call: notebook 04's one-step sampler runs at the recommended "
                        "scale, so it reads more digits from one step than the plain conditional call here.",
             CANNOT_TELL: "One call is at the ceiling already without guidance, so the two notebooks agree: a single call "
                          "makes a digit of the requested class, and guidance has nothing left to add that this n could "
                          "show. What the many steps add is sharpness (the grey fractions above).",
             NOT_SUPPORTED: "Guidance does not lift a single call beyond the noise, so it does not explain a one-step "
                            "sampler reading more digits than one call here."}[status]
    return Verdict(status, text, {"noise": noise, "gain": guided[0] - plain[0], "ceiling": top})


def complete_noise_blocks_recovery(lost: Verdict, closer: Verdict, sharper: Verdict) -> Verdict:
    """"Adding complete noise at one time creates too much difficulty for recovering the initial
    image" (hence noise is removed gradually). Two parts, combined with combine(): from complete
    noise the initial image is lost (lost: initial_image_lost) and the small steps bring the result
    closer to it than one call (closer: gradual_recovers_closer). sharper (reverse_is_sharper) says
    what the small steps buy instead."""
    said = {
        "lost": {SUPPORTED: "from complete noise nothing recovers the initial image, one step or many",
                 NOT_SUPPORTED: "some of the initial digit's identity survives complete noise, one step or many",
                 PARTLY: "only one of the two ways keeps some of the initial digit's identity",
                 CANNOT_TELL: "whether the initial digit survives was not measured"},
        "closer": {SUPPORTED: "the small steps end closer to the initial image than one call",
                   NOT_SUPPORTED: "the small steps do not end closer to the initial image than one call",
                   PARTLY: "the small steps end closer to the initial image at some t only",
                   CANNOT_TELL: "the small steps and one call end equally close to the initial image"},
        "sharper": {SUPPORTED: "what they buy is a **sharp, plausible digit** instead of the blurry average one call "
                               "predicts, at the cost of many network calls",
                    NOT_SUPPORTED: "and they do not even give a sharper digit than one call",
                    PARTLY: "and they give a sharper digit only in part",
                    CANNOT_TELL: "and within the noise they are no sharper than one call"}}
    parts = {"lost": lost, "closer": closer, "sharper": sharper}
    text = "; ".join(said[k][v.status] for k, v in parts.items()) + "."
    v = combine([lost, closer], text)
    v.numbers.update({k: p.status for k, p in parts.items()})
    return v


# the report's claims: the U-Net (notebook 02) ------------------------------------------------

def close_timesteps_alike(gaps, similarity, dim: int, near: float = 0.9, far: float = 0.3) -> Verdict:
    """Does the sinusoidal time embedding give close timesteps alike vectors and distant ones
    unrelated vectors? gaps: increasing distances t' - t; similarity: the mean cosine similarity of
    the embeddings of t and t' at each gap; dim: numbers per t. Supported when the smallest gap's
    similarity is at least `near` and the largest gap's lies within ±far of 0, partly when only one
    of the two holds, not supported when neither does."""
    s_near, s_far = float(similarity[0]), float(similarity[-1])
    alike, apart = s_near >= near, abs(s_far) <= far
    status = SUPPORTED if alike and apart else PARTLY if alike or apart else NOT_SUPPORTED
    text = (f"each t becomes {dim} numbers; timesteps {gaps[0]} apart get vectors of mean cosine similarity "
            f"{s_near:.2f} ({'almost the same' if alike else 'not alike'}: alike means at least {near:g}), "
            f"timesteps {gaps[-1]} apart {s_far:.2f} ({'nearly unrelated' if apart else 'still related'}: "
            f"unrelated means within ±{far:g} of 0)")
    text += ": the network can tell noise levels apart, and treat close ones alike." if status == SUPPORTED else "."
    return Verdict(status, text, {"near": s_near, "far": s_far, "gaps": list(gaps)})


def label_vectors_distinct(similarities, length_ratio: float, max_similarity: float = 0.5,
                           min_ratio: float = 0.25) -> Verdict:
    """The report: class conditioning adds an embedding of the label to the feature maps. Are the
    learned digit vectors distinct (every off-diagonal cosine similarity below max_similarity), and
    long enough not to be drowned out by the time vector they are added to (mean length of a label
    vector over that of a time vector at least min_ratio)? similarities: the off-diagonal cosine
    similarities of the ten digit vectors. Supported when both hold, partly when one does."""
    s = [float(v) for v in similarities]
    lo, hi, mean = min(s), max(s), sum(s) / len(s)
    distinct, heard = hi < max_similarity, length_ratio >= min_ratio
    status = SUPPORTED if distinct and heard else PARTLY if distinct or heard else NOT_SUPPORTED
    text = (f"the ten digit vectors are {'nearly unrelated' if distinct else 'not all distinct'}: their cosine "
            f"similarities lie between {lo:.2f} and {hi:.2f} (mean {mean:.2f}; distinct means all below "
            f"{max_similarity:g}). Their length is {length_ratio:.2f} times that of the time vectors they are added "
            f"to, so the label "
            + ("is not drowned out by t" if heard else f"is nearly drowned out by t (below {min_ratio:g})")
            + ". The detail: the label reaches the feature maps through the conditioning vector it shares with t "
              "(their sum), which every residual block projects and adds to its feature maps.")
    return Verdict(status, text, {"min": lo, "max": hi, "mean": mean, "length_ratio": length_ratio})


def skips_keep_detail(ts, loss_skips, loss_no_skips, val_skips: float, val_no_skips: float, val_noise: float,
                      loss_noise=None, recon=None, recon_t=None) -> Verdict:
    """The report: skip connections keep the spatial detail that downsampling would lose. Two small
    denoisers, identical but for UNetConfig(skips=...), trained for the same steps: their final
    validation eps-MSE (val_*; val_noise: the noise of the difference, evaluate.paired_noise) and
    their eps-MSE at each t in ts (loss_*; loss_noise: the noise of each difference, None for 0).
    recon: optional (MSE with skips, MSE without) of one-call reconstructions at recon_t, quoted.
    Supported when the loss without skips is higher beyond the noise overall and lower beyond the
    noise at no t; partly when higher overall but lower at some t; cannot tell when the overall
    difference is within the noise; not supported when it is lower beyond the noise."""
    ratio = [b / a for a, b in zip(loss_skips, loss_no_skips)]
    noise_t = list(loss_noise) if loss_noise is not None else [0.0] * len(ts)
    by_t = [differs(b, a, n) for a, b, n in zip(loss_skips, loss_no_skips, noise_t)]
    tied = [t for t, k in zip(ts, by_t) if k == 0]
    i_max = max(range(len(ts)), key=ratio.__getitem__)
    i_min = min(range(len(ts)), key=ratio.__getitem__)
    i_abs = max(range(len(ts)), key=lambda i: loss_no_skips[i] - loss_skips[i])
    d = differs(val_no_skips, val_skips, val_noise)
    status = (SUPPORTED if d > 0 and min(by_t) >= 0 else PARTLY if d > 0
              else CANNOT_TELL if d == 0 else NOT_SUPPORTED)
    text = (f"the validation eps-MSE is {val_skips:.4f} with skips and {val_no_skips:.4f} without "
            f"({val_no_skips / val_skips:.1f}×; difference {val_no_skips - val_skips:+.4f} ± {val_noise:.4f}, two "
            f"standard errors over the validation images). By t, the gap as a ratio is largest at t = {ts[i_max]} "
            f"({loss_skips[i_max]:.3f} against {loss_no_skips[i_max]:.3f}, {ratio[i_max]:.1f}×) and smallest at "
            f"t = {ts[i_min]} ({loss_skips[i_min]:.3f} against {loss_no_skips[i_min]:.3f}, {ratio[i_min]:.1f}×); "
            f"in absolute terms it is largest at t = {ts[i_abs]} ({loss_no_skips[i_abs] - loss_skips[i_abs]:+.3f}); "
            f"without skips the loss is higher beyond the noise at {by_t.count(1)} of the {len(ts)} t"
            + (f", within the noise at t = {', '.join(map(str, tied))}" if tied else "") + ".")
    if ratio[i_max] > 1 and 2 * i_max >= len(ts):            # the gap is widest among the larger t
        text += (" The network's answer is a pixel-exact noise pattern; at high t it is almost the input itself "
                 "(x_t ≈ eps), a copy that is easy along a skip and hard through the low-resolution bottleneck.")
    if recon is not None:
        worse = recon[1] > recon[0]
        text += (f" The one-call reconstructions at t = {recon_t} have MSE {recon[0]:.3f} (with) and {recon[1]:.3f} "
                 f"(without) to the clean digits"
                 + (": noise the network cannot locate to the pixel stays in its estimate." if worse
                    else ": no worse without skips."))
    every = "at every t we measured" if not tied else "wherever the difference exceeds the noise"
    text += {SUPPORTED: " Skip connections carry the spatial detail that downsampling would lose; without them the "
                        f"same network, trained as long, denoises worse {every}.",
             PARTLY: " With skips the loss is lower overall, though not at every t.",
             CANNOT_TELL: " The difference is within the noise: train longer (train_steps).",
             NOT_SUPPORTED: " The network without skips did better in this run."}[status]
    return Verdict(status, text, {"loss_ratio": val_no_skips / val_skips, "ratio_by_t": ratio, "by_t": by_t,
                                  "widest_t": ts[i_max], "widest_ratio": ratio[i_max],
                                  "narrowest_t": ts[i_min], "narrowest_ratio": ratio[i_min]})


def label_steers(ts, spread, follow=None, follow_noise: float = 0.0, steps=None, min_growth: float = 2.0,
                 min_gain: float = 0.2) -> Verdict:
    """Does the trained model's output follow the label, most where the noise has hidden the digit?
    ts: increasing t of x_t; spread: the pixel std of the one-call x0_hat across the ten labels at
    each t; follow: the share of results of the reverse process (a steps-step DDIM grid) that the
    classifier reads as the requested label (None without a classifier); follow_noise: the noise of
    follow[-1] - follow[0] (evaluate.accuracy_noise). The label steers when the spread at the
    largest t is more than min_growth times that at the smallest, and the share followed grows by
    more than min_gain beyond the noise. Supported when both hold (the spread alone without a
    classifier), partly when one does, cannot tell when the gain is within the noise of min_gain."""
    growth = spread[-1] / spread[0] if spread[0] > 0 else math.inf
    grows = growth > min_growth
    text = (f"at t = {ts[0]} the pixels of the one-call x0_hat vary by {spread[0]:.3f} (std) across the ten "
            f"labels; at t = {ts[-1]} by {spread[-1]:.3f} ({growth:.0f}×; steering needs more than {min_growth:g}×).")
    if follow is None:
        status = SUPPORTED if grows else NOT_SUPPORTED
        text += " (No classifier: whether the finished digits follow the label is not measured.)"
    else:
        gain = follow[-1] - follow[0]
        d = differs(gain, min_gain, follow_noise)
        status = (SUPPORTED if grows and d > 0 else CANNOT_TELL if grows and d == 0 else PARTLY if grows or d > 0
                  else NOT_SUPPORTED)
        text += (f" Denoised by the reverse process ({steps}-step DDIM grid) under each label, the classifier reads "
                 f"the requested label in {follow[0]:.0%} of the results from t = {ts[0]} (about 10% means the label "
                 f"is ignored: the original digit wins) and in {follow[-1]:.0%} from t = {ts[-1]}, a gain of "
                 f"{100 * gain:+.0f} points ± {100 * follow_noise:.0f} (steering needs {100 * min_gain:.0f}).")
    text += {SUPPORTED: " The label steers the output, and most where the noise has hidden the digit.",
             CANNOT_TELL: " The gain is within the noise of the threshold: use more images (n_label).",
             PARTLY: (" x0_hat changes with the label, but the finished digits do not follow it." if grows else
                      " The finished digits follow the label, but the one-call x0_hat barely changes with it."),
             NOT_SUPPORTED: " The output barely follows the label."}[status]
    return Verdict(status, text, {"t": list(ts), "growth": growth, "follow": None if follow is None else list(follow)})


def t_embedding_used(ts, eps_mse, t_true: int, tolerance: int = 100, min_contrast: float = 2.0) -> Verdict:
    """The report: time embeddings let the network determine the amount of added noise. Images
    noised at t_true; eps_mse: the MSE of eps_hat to the true noise when the model is told each t in
    ts instead. Supported when the error is smallest within `tolerance` steps of t_true and depends
    on t (its largest value at least min_contrast times its smallest); not supported otherwise."""
    i = min(range(len(ts)), key=lambda k: eps_mse[k])
    best, offset, contrast = ts[i], abs(ts[i] - t_true), max(eps_mse) / eps_mse[i]
    text = (f"the noise is predicted best when the model is told t = {best} (true: {t_true}), with MSE "
            f"{eps_mse[i]:.3f}; told t = {ts[0]} it scores {eps_mse[0]:.3f}, told t = {ts[-1]} {eps_mse[-1]:.3f}.")
    if contrast < min_contrast:
        status = NOT_SUPPORTED
        text += (f" The error hardly depends on the t the model is told (largest over smallest: {contrast:.1f}×, "
                 f"below {min_contrast:g}×): the network ignores t.")
    elif offset <= tolerance:
        status = SUPPORTED
        text += " The network relies on being told the noise level."
    else:
        status = NOT_SUPPORTED
        text += f" The error is smallest {offset} steps away from the true t (the claim allows {tolerance})."
    return Verdict(status, text, {"best_t": best, "offset": offset, "min_mse": eps_mse[i], "first": eps_mse[0],
                                  "last": eps_mse[-1], "t_true": t_true})


def unet_claims_summary(time_v: Verdict, class_v: Verdict, skips_v: Verdict, label_v: Verdict,
                        t_v: Verdict) -> Verdict:
    """The notebook's findings in one verdict (combine): the verdicts of close_timesteps_alike,
    label_vectors_distinct, skips_keep_detail, label_steers and t_embedding_used, one bullet each
    part with its numbers and status."""
    s, lab, tt = skips_v.numbers, label_v.numbers, t_v.numbers
    heard = (f"from t = {lab['t'][-1]} the reverse process follows the requested label in {lab['follow'][-1]:.0%} "
             f"of cases" if lab["follow"] is not None else
             f"the one-call x0_hat varies {lab['growth']:.0f}× more across the labels at t = {lab['t'][-1]} than at "
             f"t = {lab['t'][0]}")
    bullets = [
        f"- The time embedding gives every `t` its own vector ({time_v.status}); the label has its own learned "
        f"vector ({class_v.status}); their sum conditions every residual block (sections 1–3).",
        f"- Without skip connections the same small network, trained as long, ends at {s['loss_ratio']:.1f}× the "
        f"validation loss; as a ratio the gap is widest at t = {s['widest_t']} ({s['widest_ratio']:.1f}×) and narrowest at "
        f"t = {s['narrowest_t']} ({s['narrowest_ratio']:.1f}×) (section 5: {skips_v.status}).",
        f"- The label: {heard} (section 6: {label_v.status}).",
        f"- The timestep: the noise estimate is best when the model is told t = {tt['best_t']} for images noised "
        f"at t = {tt['t_true']} (section 7: {t_v.status}).",
    ]
    return combine([time_v, class_v, skips_v, label_v, t_v],
                   "the findings of this notebook, claim by claim:\n\n" + "\n".join(bullets))


# the report's claims: training and the loss (notebook 03) ------------------------------------

def loss_improves_consistently(val: dict, raw: dict, steps, train_last: float) -> Verdict:
    """The report: the training and validation loss "demonstrated consistent improvement".

    val, raw: helpers.analysis.improvement_summary of the EMA and the raw weights' validation
    losses at the evaluation steps `steps`; train_last: the running training loss at the end.
    Supported when the EMA loss fell at every evaluation, partly when it fell overall but rose in
    some intervals, not supported when it did not fall overall. The text also says whether the
    second half of training brought under half of the drop (the curve flattens) and whether the
    validation loss is over 1.1x the training loss (over-fitting). The validation triples are the
    same at every evaluation, so every rise is the model's, not a new draw's.
    """
    rises = val["intervals"] - val["decreases"]
    if val["last"] >= val["first"]:
        status, how = NOT_SUPPORTED, "it did not fall overall"
    elif val["monotone"]:
        status, how = SUPPORTED, "it fell at every evaluation"
    else:
        status, how = PARTLY, f"it rose in {rises} of {val['intervals']} intervals"
    flattens = val["second_half_drop"] < 0.5 * val["drop"]
    ratio = val["last"] / train_last
    text = (f"the EMA validation loss went from {val['first']:.4f} (step {steps[0]}) to {val['last']:.4f} "
            f"(step {steps[-1]}), a drop of {100 * val['drop']:.0f}%, decreasing in {val['decreases']} of "
            f"{val['intervals']} intervals (largest rise {100 * max(val['worst_rise'], 0):.1f}%): {how}. Over the "
            f"second half of training (from step {val['half_step']}) it fell by {100 * val['second_half_drop']:.1f}%: "
            + ("most of the gain comes early and the curve flattens. " if flattens else "it is still falling fast. ")
            + f"The raw weights' loss decreased in {raw['decreases']} of {raw['intervals']} intervals. At the end the "
            f"running training loss is {train_last:.4f} against {val['last']:.4f} on validation (ratio {ratio:.2f}): "
            + ("no sign of over-fitting." if ratio < 1.1 else "validation is clearly worse than training."))
    return Verdict(status, text, {"rises": rises, "flattens": flattens, "val_over_train": ratio})


def blurred_then_recognisable(steps, accuracy, gray, real_gray: float, n: int, level: float = 0.8) -> Verdict:
    """The report: early samples were "unrecognizable while being blurred", later ones clear.

    steps, accuracy, gray: one value per saved sample grid (helpers.analysis.snapshot_quality), each
    grid n images; real_gray: the mid-grey fraction of real digits. A grid is *blurred* when over 2x
    as grey as real digits, *sharp* under 1.5x, *recognisable* when its accuracy is at least `level`
    beyond its binomial noise (Wilson interval on n). Supported: the greyest grid is blurred and
    comes before the last, and the last is sharp and recognisable. Partly: a blurred phase followed
    by sharper, more accurate samples that are not finished, or recognisable digits with no blurred
    phase. Cannot tell: the last grid's accuracy is within noise of `level` (after a blurred phase,
    sharp), or the run ends before the digits are recognisable (too short to test the claim).
    """
    s, a, g = list(steps), list(accuracy), list(gray)
    k = max(range(len(g)), key=g.__getitem__)                       # the greyest grid
    speckle_first = a[0] < 0.2 and g[0] < 2 * real_gray             # unrecognisable, yet black and white
    blur_phase, sharp_end = g[k] > 2 * real_gray and k < len(g) - 1, g[-1] < 1.5 * real_gray
    noise = proportion_noise(a[-1], n)
    recognised = at_least(a[-1], level, noise).status
    unfinished = ([] if sharp_end else [f"{g[-1] / real_gray:.1f}x as grey as real digits"]) + \
                 ([] if recognised == SUPPORTED else [f"recognised only {100 * a[-1]:.0f}% of the time"])
    if blur_phase and sharp_end and recognised == SUPPORTED:
        status, why = SUPPORTED, "blurred shapes came first, then sharp, recognisable digits" + (
            " (though the very first samples were speckled noise rather than blur)" if speckle_first else "")
    elif blur_phase and sharp_end and recognised == CANNOT_TELL:
        status, why = CANNOT_TELL, (f"a blurred phase came first and the last grid is sharp, but its accuracy is "
                                    f"within the noise of {100 * level:.0f}%")
    elif blur_phase and g[-1] < g[k] and a[-1] > a[k]:
        status, why = PARTLY, ("the blurred phase is there, and after it the samples get sharper and more "
                               "recognisable, but at the end of this run they are still " + " and ".join(unfinished))
    elif recognised == SUPPORTED:
        status, why = PARTLY, "the digits became recognisable, but we measure no clearly blurred phase"
    else:
        status, why = CANNOT_TELL, ("the run ends before the samples are reliably recognisable, so it cannot "
                                    "test the claim")
    text = (f"{why}. First grid (step {s[0]}): the classifier recognises {100 * a[0]:.0f}% of the samples (chance: "
            f"10%), and {100 * g[0]:.0f}% of the pixels are mid-grey, against {100 * real_gray:.0f}% for real digits"
            + (": unstructured black-and-white speckle, not blur. " if speckle_first else ". ")
            + f"The greyest grid is the one at step {s[k]} ({100 * g[k]:.0f}%, {g[k] / real_gray:.1f}x real digits). "
            f"Last grid (step {s[-1]}): {100 * a[-1]:.0f}% ± {100 * noise:.0f} recognised (n = {n}; "
            f"recognisable: {100 * level:.0f}%), {100 * g[-1]:.0f}% mid-grey. Accuracy rose in "
            f"{sum(y > x for x, y in zip(a, a[1:]))} of {len(a) - 1} intervals.")
    return Verdict(status, text, {"greyest": k, "speckle_first": speckle_first, "blur_phase": blur_phase,
                                  "sharp_end": sharp_end, "recognised": recognised, "noise": noise})


def ema_has_lower_loss(steps, ema, raw, shipped: "dict | None" = None, prediction: str = "v") -> Verdict:
    """Do the EMA weights end with a lower validation loss than the raw ones?

    steps, ema, raw: a Trainer history's evaluation steps and validation losses of the EMA and raw
    weights; shipped: the shipped
    model's stored history ("step", "val_loss", "val_loss_raw"; trained longer, the learning rate
    decayed to the end, its loss the MSE of its `prediction` target), which answers the same
    question for a longer run. Supported when the final EMA loss is the lower, not supported when
    the raw one is, cannot tell when they are equal.
    """
    gap = raw[-1] / ema[-1] - 1
    raw_wins = [s for s, e, r in zip(steps, ema, raw) if r <= e]
    status = SUPPORTED if gap > 0 else NOT_SUPPORTED if gap < 0 else CANNOT_TELL
    if gap > 0:
        why = ("Each update makes the raw weights jump around the bottom of the valley, and their average over the "
               "last updates sits nearer to it" + (f"; the raw weights won only at step{'s' if len(raw_wins) > 1 else ''} {_listing(raw_wins)}, where the average still "
                                              "remembered the worse weights of the first steps." if raw_wins else "."))
    else:
        why = ("Here the raw weights win: so early in training the weights improve faster than they jitter, and the "
               "EMA, an average over the last ~min(1000, step) updates, lags behind them.")
    if shipped and shipped.get("val_loss"):
        wins = sum(e < r for e, r in zip(shipped["val_loss"], shipped["val_loss_raw"]))
        why += (f" The shipped model ({shipped['step'][-1]} steps, learning rate decayed to the end) had the lower loss "
                f"with its EMA weights at {wins} of {len(shipped['val_loss'])} evaluations (final {prediction}-MSE: "
                f"EMA {shipped['val_loss'][-1]:.4f}, raw {shipped['val_loss_raw'][-1]:.4f}).")
    text = (f"final validation loss EMA {ema[-1]:.4f}, raw {raw[-1]:.4f} (the raw weights are {100 * abs(gap):.1f}% "
            f"{'worse' if gap > 0 else 'better'}). " + why)
    return Verdict(status, text, {"gap": gap, "raw_wins": raw_wins})


def lower_loss_better_digits(loss: dict, accuracy: dict, n: int, noise: float) -> Verdict:
    """The report's "lower loss = ... better image recovery", for two models (or two sets of
    weights): {name: validation loss}, {name: classifier accuracy of its n digits, from the same
    noise}; noise: two standard errors of the accuracy difference (helpers.evaluate.accuracy_noise).
    Supported when the lower-loss one is more accurate beyond the noise, not supported when it is
    less accurate beyond it, cannot tell within it.
    """
    (a, b) = loss
    low, high = (a, b) if loss[a] <= loss[b] else (b, a)
    d = differs(accuracy[low], accuracy[high], noise)
    status = SUPPORTED if d > 0 else NOT_SUPPORTED if d < 0 else CANNOT_TELL
    text = (f"{low} (loss {loss[low]:.4f}) recognised {100 * accuracy[low]:.1f}%, {high} (loss {loss[high]:.4f}, "
            f"{100 * (loss[high] / loss[low] - 1):+.0f}%) {100 * accuracy[high]:.1f}% of {n} digits from the same noise: "
            + ("a difference within sampling noise" if d == 0 else
               "the lower-loss one also draws the better digits" if d > 0 else
               "the lower-loss one does **not** draw the better digits")
            + f" (two standard errors: {100 * noise:.1f} points).")
    return Verdict(status, text, {"lower": low, "difference": accuracy[low] - accuracy[high], "noise": noise})


def _times_loss(r: float) -> str:
    return f"{r:,.0f}x" if r >= 100 else f"{r:.2f}x"


def _wilson(row: dict) -> tuple:
    """The 95 % Wilson interval of a row's accuracy ({"accuracy", "n"})."""
    return wilson_interval(round(row["accuracy"] * row["n"]), row["n"])


def _interval(row: dict, places: int = 0) -> str:
    """A row's 95 % Wilson interval as "lo%–hi%", with `places` decimals."""
    return "–".join(f"{v:.{places}%}" for v in _wilson(row))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _listing(ts) -> str:
    return ", ".join(str(int(t)) for t in ts)


def _noise_region(t: int, T: int) -> str:
    return "small" if t < T / 4 else "large" if t > 3 * T / 4 else "middle"


def eps_hardest_at_small_t(ts, eps_mse, T: int) -> Verdict:
    """Is the noise hardest to predict at small t (the first quarter of 0..T-1)? ts: timesteps,
    eps_mse: the eps-MSE at each (helpers.analysis.eps_mse_by_t). Supported when the highest value
    lies in the first quarter, not supported otherwise."""
    v = [float(e) for e in eps_mse]
    k = max(range(len(v)), key=v.__getitem__)
    t_hard, region = int(ts[k]), _noise_region(int(ts[k]), T)
    text = (f"in noise terms the hard levels are the **{region}** `t`: the eps-MSE is "
            + (f"highest at the lowest noise level, t = {ts[0]} ({v[0]:.3f}), " if k == 0 else
               f"{v[0]:.3f} at t = {ts[0]}, highest at t = {t_hard} ({v[k]:.3f}), ")
            + f"and {v[-1]:.4f} at t = {ts[-1]}, where `x_t` is almost pure noise and the noise is easy to name.")
    return Verdict(SUPPORTED if region == "small" else NOT_SUPPORTED, text, {"t_hard": t_hard, "region": region})


def image_error_beyond_average_digit(ts, x0_mse, reference: float) -> Verdict:
    """At large t, is an image rebuilt from the noise guess worse than guessing the average digit?
    x0_mse: the implied MSE of x0_hat at each t in ts (helpers.analysis.implied_x0_mse); reference:
    the MSE of the average digit. Supported when some t exceeds it (the text names the first)."""
    v = [float(e) for e in x0_mse]
    crossing = next((int(t) for t, e in zip(ts, v) if e > reference), None)
    text = (f"in image terms the implied error of `x0_hat` is {v[0]:.2g} at t = {ts[0]} but "
            + (f"exceeds the error of guessing the average digit ({reference:.3f}) from t = {crossing} on. There an "
               f"image rebuilt from a noise guess is worse than no model at all: the digit is not in `x_t` any more "
               f"and dividing by the tiny SNR amplifies every error, which is why the samplers clip `x0_hat` to [-1, 1]."
               if crossing is not None else
               f"stays below the error of guessing the average digit ({reference:.3f}) at every t measured."))
    return Verdict(SUPPORTED if crossing is not None else NOT_SUPPORTED, text, {"crossing": crossing})


def loss_curve_matches_val_loss(ts, eps_mse, val_loss: float, tol: float = 0.15) -> Verdict:
    """Is the loss-by-t curve's average over t (trapezoid rule over ts) within tol (relative) of the
    validation loss (the same quantity on other images, noise and uniformly drawn t)?"""
    ts, v = [float(t) for t in ts], [float(e) for e in eps_mse]
    avg = sum((t1 - t0) * (a + b) / 2 for t0, t1, a, b in zip(ts, ts[1:], v, v[1:])) / (ts[-1] - ts[0])
    ok = abs(avg / val_loss - 1) < tol
    return Verdict(SUPPORTED if ok else NOT_SUPPORTED,
                   f"the average of the curve over t, {avg:.4f}, {'matches' if ok else 'differs from'} the validation "
                   f"loss {val_loss:.4f} (within ±{100 * tol:.0f}%: {ok}; the same quantity on other images and noise).",
                   {"average": avg})


def gap_is_the_target(ts, mine, ref, x0_ref, reference: float, T: int, prediction: str,
                      own_prediction: str = "eps", noise=None) -> Verdict:
    """Where is a model furthest behind a reference model, and why? mine, ref: eps-MSE at each t in
    ts (a v model's is that of the eps its v implies); x0_ref: the reference's implied x0 error;
    reference: the average digit's MSE; prediction, own_prediction: the reference's and the
    model's targets; noise: at each t, two standard errors of mine - ref (paired_noise over the
    same images and noise; None: no noise). numbers["same_target"] says which question was asked:

    * different targets: is the gap the reference's target? Supported when the reference predicts v
      and the largest loss ratio lies in the last quarter of t (near t = T a v model's implied eps
      is almost x_t: its eps error vanishes whatever its training), not supported otherwise;
    * the same target: is the gap training alone, the model behind at every t? Each t is behind,
      ahead or within noise (differs). Supported when it is behind somewhere and ahead nowhere
      (the text names the t within noise), partly when it is ahead somewhere beyond noise, cannot
      tell when every t is within noise."""
    r = [float(m) / float(f) if float(f) > 0 else math.inf for m, f in zip(mine, ref)]
    kmax, kmin = max(range(len(r)), key=r.__getitem__), min(range(len(r)), key=r.__getitem__)
    t_gap, same = int(ts[kmax]), prediction == own_prediction
    x0_max = max(float(e) for e in x0_ref)
    text = (f"against the shipped model, the trained one is furthest behind at t = {t_gap} ({_times_loss(r[kmax])} its "
            f"loss) and closest at t = {ts[kmin]} ({_times_loss(r[kmin])}).")
    side = [differs(float(m), float(f), 0.0 if noise is None else float(e))
            for m, f, e in zip(mine, ref, noise if noise is not None else [0] * len(ts))]
    tied, ahead = [int(t) for t, d in zip(ts, side) if d == 0], [int(t) for t, d in zip(ts, side) if d < 0]
    if same:
        status = PARTLY if ahead else CANNOT_TELL if len(tied) == len(ts) else SUPPORTED
        where = f" (beyond noise at {len(ts) - len(tied)} of {len(ts)} t; within noise at t = {_listing(tied)})" if tied else ""
        text += (f" Both predict `{prediction}` with the same U-Net, so the comparison is like for like and the gap is "
                 + ("training alone: the shipped model, trained longer, is ahead at every t"
                    + ("." if not tied else f" where the two differ{where}.") if status == SUPPORTED else
                    f"training, but not everywhere: at t = {_listing(ahead)} the model trained here is ahead beyond "
                    "noise." if status == PARTLY else
                    "cannot tell: at every t the two losses are within noise of each other."))
    elif prediction == "v" and t_gap > 3 * T / 4:
        status = SUPPORTED
        text += (" That gap is the shipped model's target, not its training: it predicts `v`, and near t = T its "
                 "implied `eps = sqrt(alpha_bar) v + sqrt(1 - alpha_bar) x_t` is almost `x_t` itself, so its eps error "
                 "all but vanishes while its image error "
                 + (f"stays below the average-digit guess at every t (at most {x0_max:.3f}; right panel). "
                    if x0_max <= reference else f"reaches {x0_max:.3f}. ")
                 + f"A model that predicts `{own_prediction}` cannot say much about `x0` where `x_t` is all noise; a v "
                 "model can.")
    else:
        status = NOT_SUPPORTED
        text += f" The shipped model predicts `{prediction}`; the gap is not where a v target would explain it."
    return Verdict(status, text, {"t_gap": t_gap, "ratio_max": r[kmax], "ratio_min": r[kmin], "start": t_gap > T / 2,
                                  "same_target": same, "prediction": prediction, "within_noise": tied,
                                  "ahead": ahead})


def loss_predicts_digits(models: Verdict, weights: Verdict, gap: Verdict) -> Verdict:
    """The report's chain "lower loss = better noise prediction = better image recovery", from two
    lower_loss_better_digits verdicts (two models far apart in loss; the EMA and raw weights, a few
    percent apart) and the gap_is_the_target verdict (where the loss difference lies). Statuses
    combine the two comparisons (helpers.verdicts.combine)."""
    if models.status == SUPPORTED and weights.status == SUPPORTED:
        head = "Lower loss goes with better digits, but not in proportion: the average hides where the errors are."
    elif models.status == SUPPORTED:
        head = ("The loss ranks models that are far apart, but a few percent of it need not show in the digits "
                f"(EMA against raw weights: {weights.status}): the average over t hides where the errors are.")
    elif models.status == CANNOT_TELL:
        head = "The two models' digits are within sampling noise of each other, so they cannot test the chain."
    else:
        head = "The lower-loss model draws the worse digits: the average over t hides where the errors are."
    g = gap.numbers
    text = (head + f" Per noise level the trained model falls furthest behind at t = {g['t_gap']} "
            f"({_times_loss(g['ratio_max'])} the shipped model's loss), near the {'start' if g['start'] else 'end'} of "
            "the reverse process" + (
                ": the same target and U-Net, so that is the shorter training." if g.get("same_target") else
                f": the shipped model's target (`{g.get('prediction', 'v')}`) more than its training."
                if gap.status == SUPPORTED else "."))
    return combine([models, weights], text)


def resume_reproduces(saved: float, reloaded: float, step: int, resumed_to: int, resumed_loss: float,
                      evaluations: int, last_step: int) -> Verdict:
    """Is a reloaded checkpoint the same model? saved, reloaded: the validation loss recorded at
    step `step` and the one the reloaded EMA weights score (exactly equal: supported); resumed_to,
    resumed_loss, evaluations, last_step: where training went on to and its history."""
    same = reloaded == saved
    text = (f"reloaded at step {step}, the validation loss {'is reproduced exactly' if same else 'differs'} "
            f"({saved:.6f} saved, {reloaded:.6f} reloaded); trained on to step {resumed_to}: validation loss "
            f"{saved:.4f} -> {resumed_loss:.4f}. The history continues too: {evaluations} evaluations, the last at "
            f"step {last_step}.")
    return Verdict(SUPPORTED if same else NOT_SUPPORTED, text, {"exact": same})


# the report's claims: when digits become recognisable (notebook 04) --------------------------

def _pct(v) -> str:
    return "never" if v is None or math.isnan(v) else f"{v:.0%}"


def _apart(p1: float, n1: int, p2: float, n2: int) -> int:
    """+1 if accuracy p1 (on n1 digits) lies above p2 (on n2) with disjoint 95 % Wilson intervals,
    -1 if below, 0 if the intervals overlap."""
    a, b = wilson_interval(round(p1 * n1), n1), wilson_interval(round(p2 * n2), n2)
    return 1 if a[0] > b[1] else -1 if a[1] < b[0] else 0


def judge_on_pure_noise(votes, names, level: float = 0.9, what: str = "pure-noise images x_T") -> Verdict:
    """Does the judge call pure noise "not a digit"? votes: how often it answered each class on the
    images x_T (or on what a reader makes of them: `what` names them), (11,) with the last
    NOT_A_DIGIT (or (10,) for a judge that cannot abstain); names: the classes' names. Supported
    when the abstentions' Wilson interval lies above `level`; otherwise the early accuracy of the
    digit it prefers is its default answer, not a visible digit."""
    votes = [int(v) for v in votes]
    n = sum(votes)
    abstained = votes[10] if len(votes) > 10 else 0
    top = max(range(min(len(votes), 10)), key=votes.__getitem__)
    top = top if votes[top] else None                                   # it named no digit at all
    lo, hi = wilson_interval(abstained, n)
    status = SUPPORTED if lo >= level else NOT_SUPPORTED if hi < level else CANNOT_TELL
    text = (f"on {n} {what} the judge answers \"not a digit\" for {abstained / n:.0%} "
            f"({_pct(lo)}–{_pct(hi)}); " + ("it names no digit" if top is None else
                                           f"its likeliest digit, {names[top]}, for {votes[top] / n:.0%}"))
    text += {SUPPORTED: ", so an early accuracy above zero is a digit it can see, not a default answer.",
             NOT_SUPPORTED: f", so the early accuracy of {names[top if top is not None else 0]} is the judge's default "
                            "answer, not a visible digit.",
             CANNOT_TELL: "; too few images to say whether it abstains reliably."}[status]
    return Verdict(status, text, {"abstained": abstained / n, "top": top,
                                  "top_share": 0.0 if top is None else votes[top] / n})


def recognisable_in_window(crossing: float, band=None, lo: float = 0.4, hi: float = 0.6) -> Verdict:
    """Are half of the samples read within [lo, hi] of the reverse process? crossing: the fraction
    completed where the accuracy rises through 50 % for good (NaN: never); band: (earliest, latest)
    crossing within the accuracy's binomial noise (helpers.analysis.crossing_band; latest inf: the
    upper level is never reached). Supported when the band lies inside [lo, hi], not supported when
    it lies wholly outside or 50 % is never reached, cannot tell when it straddles an edge.
    numbers["where"]: "before", "inside", "after" or "never reached", from the crossing alone."""
    b_lo, b_hi = (crossing, crossing) if band is None else band
    b_hi = math.inf if b_hi is None or math.isnan(b_hi) else b_hi
    where = ("never reached" if math.isnan(crossing) else "before" if crossing < lo else "after" if crossing > hi
             else "inside")
    status = (NOT_SUPPORTED if math.isnan(crossing) else SUPPORTED if lo <= b_lo and b_hi <= hi
              else NOT_SUPPORTED if b_hi < lo or b_lo > hi else CANNOT_TELL)
    if math.isnan(crossing):
        text = "the accuracy never stays above 50 %"
    else:
        latest = "never" if math.isinf(b_hi) else _pct(b_hi)
        noise = "" if band is None else f" ({_pct(b_lo)}–{latest} within the noise)"
        text = f"half read at {_pct(crossing)}{noise}, {where} the window"
        if status == CANNOT_TELL:
            text += ", but the noise reaches " + ("beyond the window" if where == "inside" else "into it")
    return Verdict(status, text, {"crossing": crossing, "band": (b_lo, b_hi), "where": where})


def recognisable_window(crossings: dict, lo: float = 0.4, hi: float = 0.6) -> Verdict:
    """The report: digits first become recognisable between 40 % and 60 % of the reverse process.

    crossings: {reader: {sampler: (crossing, band)}}, as recognisable_in_window takes them. A reader
    supports the claim when every sampler's crossing does (combine). The readers are different
    observers, so the claim is supported when every reader supports it, partly when some (fully or
    partly) do, cannot tell when none does but one cannot tell, not supported otherwise.
    numbers: "parts" {reader: {sampler: Verdict}}, "status" {reader: status}, "inside" {reader:
    [samplers whose crossing lies inside]} and "holds" {reader: every sampler's crossing inside},
    the last two from the crossings alone.
    """
    parts = {r: {s: recognisable_in_window(c, b, lo, hi) for s, (c, b) in by.items()} for r, by in crossings.items()}
    per = {r: combine(list(vs.values()), "") for r, vs in parts.items()}
    inside = {r: [s for s, v in vs.items() if v.numbers["where"] == "inside"] for r, vs in parts.items()}
    text = (f"criterion: half of the samples read correctly for good, with the noise band of that point, inside "
            f"{lo:.0%}–{hi:.0%} of the way. " + ". ".join(
                f"**{r}**, {per[r].status}: " + "; ".join(f"{s} {v.text}" for s, v in vs.items())
                for r, vs in parts.items()) + ".")
    st = [p.status for p in per.values()]
    status = (SUPPORTED if all(x == SUPPORTED for x in st) else PARTLY if SUPPORTED in st or PARTLY in st
              else CANNOT_TELL if CANNOT_TELL in st else NOT_SUPPORTED)
    v = Verdict(status, text)
    v.numbers.update(parts=parts, status={r: p.status for r, p in per.items()}, inside=inside,
                     holds={r: len(s) == len(parts[r]) for r, s in inside.items()})
    return v


def noise_sets_the_reading(generated: dict, real: dict, tolerance: float = 0.1) -> Verdict:
    """Is a generated digit read at the same point of the process as a real digit under the same
    noise, so that the noise level, not the model still forming the digit, sets when it shows?

    generated, real: {reader: (crossing, band)} (band as in recognisable_in_window). Per reader:
    the same when the crossings lie within `tolerance` of each other; different when they lie
    further apart and their noise bands do not overlap; cannot tell otherwise or when one is never
    reached. Supported when every reader reads them the same (combine).
    """
    parts = []
    for r, (g, gb) in generated.items():
        c, cb = real[r]
        if math.isnan(g) or math.isnan(c):
            status = CANNOT_TELL
        elif abs(g - c) <= tolerance:
            status = SUPPORTED
        else:
            status = CANNOT_TELL if gb[0] <= cb[1] and cb[0] <= gb[1] else NOT_SUPPORTED
        gap = "" if status == CANNOT_TELL and (math.isnan(g) or math.isnan(c)) else f", {abs(g - c):.0%} apart"
        parts.append(Verdict(status, f"**{r}** {_pct(g)} against {_pct(c)}{gap}"
                             + (" (within the noise bands)" if status == CANNOT_TELL and gap else "")))
    v = combine(parts, "")
    end = {SUPPORTED: ": when a digit shows in `x_t` is set by the amount of noise left, and by how well the reader "
                      "copes with noise, not by the model still forming it.",
           NOT_SUPPORTED: ": generated and real digits under the same noise are read at different points, so the "
                          "noise level alone does not set it.",
           PARTLY: ": the same for some readers only.", CANNOT_TELL: ": the measurement cannot separate them."}
    v.text = (f"where half of the samples are read, generated digits against real ones under the same noise "
              f"(criterion: within {tolerance:.0%} of the way of each other): " + "; ".join(p.text for p in parts)
              + end[v.status])
    v.numbers["parts"] = [p.status for p in parts]
    return v


def prediction_knows_digit_first(prediction: tuple, noisy: tuple, start: "float | None" = None) -> Verdict:
    """Does the model's prediction x0_hat name the requested digit long before the noisy image x_t
    shows it? prediction, noisy: (crossing, band) of the 50 % accuracy of x0_hat and of x_t (as
    recognisable_in_window takes them); start: x0_hat's accuracy at the first step, quoted. Supported
    when x0_hat's band ends before x_t's begins; not supported when x_t's ends first or x0_hat never
    reaches 50 %; cannot tell when the bands overlap or x_t never reaches 50 %."""
    (p, pb), (x, xb) = prediction, noisy
    band = lambda b: f"{_pct(b[0])}–{'never' if math.isinf(b[1]) else _pct(b[1])}"
    if math.isnan(p):
        status = NOT_SUPPORTED
    elif math.isnan(x):
        status = CANNOT_TELL
    else:
        status = SUPPORTED if pb[1] < xb[0] else NOT_SUPPORTED if xb[1] < pb[0] else CANNOT_TELL
    text = (("" if start is None else f"from pure noise the first `x0_hat` is read correctly {start:.0%} of the time; ")
            + f"half of the predictions `x0_hat` name the requested digit at {_pct(p)} of the way ({band(pb)} within "
            f"the noise), half of the noisy images `x_t` at {_pct(x)} ({band(xb)})")
    text += {SUPPORTED: ": the label fixes the digit's identity early, and what forms during the rest of the process "
                        "is the shape and style of one particular digit.",
             NOT_SUPPORTED: ": the prediction does not name the digit before the noisy image shows it.",
             CANNOT_TELL: ": within the noise the measurement cannot order them."}[status]
    return Verdict(status, text, {"prediction": p, "noisy": x})


def coarse_to_fine(settle: dict, resolution: float = 0.0, low: str = "1–3", high: str = "10–14") -> Verdict:
    """The report: coarse structure appears first, fine detail last. settle: {image sequence:
    {"low": the fraction of the way at which the coarse frequencies settle, "high": the fine ones}};
    resolution: the grid step of the measurement, below which a difference cannot tell. Supported
    when the coarse band settles first in every sequence (combine). numbers["coarse_first"]: low <
    high in every sequence, without the resolution."""
    parts = []
    for name, r in settle.items():
        d = differs(r["high"], r["low"], resolution)
        parts.append(Verdict(SUPPORTED if d > 0 else NOT_SUPPORTED if d < 0 else CANNOT_TELL,
                             f"in `{name}` at **{_pct(r['low'])}** and **{_pct(r['high'])}**"))
    v = combine(parts, "")
    order = {SUPPORTED: "coarse first, as the report says", NOT_SUPPORTED: "no coarse-first order",
             PARTLY: "coarse first in some sequences only", CANNOT_TELL: "no difference the measurement can resolve"}
    v.text = (f"the coarse frequencies ({low} cycles per image) and the fine ones ({high}) settle "
              + "; ".join(p.text for p in parts) + " of the way" + (f" (measured every {resolution:.0%})" if resolution
                                                                     else "") + f": {order[v.status]}.")
    v.numbers.update(coarse_first=all(r["low"] < r["high"] for r in settle.values()), parts=[p.status for p in parts])
    return v


def generation_needs_many_steps(rows: list, slow: tuple, level: float = 0.98, margin: float = 0.01,
                                kid_min_n: int = 0, kid_real: "float | None" = None, kid_noise: float = 0.0) -> Verdict:
    """The report lists "slow generation (many steps)" as a limitation. Do few steps cost quality?

    rows: sweep rows ({"sampler", "steps", "n", "accuracy", "kid", "images_per_s"}); slow: (sampler,
    steps) of the long chain (DDPM through all its steps). A setting is good when its accuracy is
    within `margin` of its sampler's own best and, with kid_real given (the KID of two real sets of
    the sweep's n; kid_noise: its noise, e.g. two standard deviations over draws), its KID (scored
    only where n >= kid_min_n) is at most kid_real + kid_noise: as close to real digits as real
    digits are to each other. Accuracy alone is at its ceiling for a good model (one blurry step is
    still readable); the KID is what tells a blur from a digit. The fast setting: the fewest good
    steps over the samplers. Not supported when it is within margin of the slow chain's accuracy
    (few steps suffice); supported when it falls further below and their 95 % Wilson intervals are
    apart; cannot tell otherwise, without the slow chain, or when no setting is good. numbers:
    "fewest" {sampler: fewest steps with accuracy >= level, or None}, "near_best" {sampler: fewest
    steps within margin of its best}, "real_kid" {sampler: fewest steps with a real digits' KID, or
    None; {} without kid_real}, "best", "fast", "slow" (rows).
    """
    from .analysis import fewest_steps
    samplers = list(dict.fromkeys(r["sampler"] for r in rows))
    at = lambda s, k: next((r for r in rows if r["sampler"] == s and r["steps"] == k), None)
    fewest = {s: fewest_steps(rows, s, level) for s in samplers}
    best = {s: max(r["accuracy"] for r in rows if r["sampler"] == s) for s in samplers}
    near_best = {s: fewest_steps(rows, s, best[s] - margin) for s in samplers}
    real_kid, good = {}, dict(near_best)
    if kid_real is not None:
        real_like = lambda r: r["kid"] <= kid_real + kid_noise
        real_kid = {s: min((r["steps"] for r in rows if r["sampler"] == s and r["n"] >= kid_min_n and real_like(r)),
                           default=None) for s in samplers}
        good = {s: None if real_kid[s] is None else max(near_best[s], real_kid[s]) for s in samplers}
    candidates = [at(s, k) for s, k in good.items() if k is not None]
    fast, slow_row = min(candidates, key=lambda r: r["steps"]) if candidates else None, at(*slow)
    kid = lambda r: f", KID {r['kid']:.4f}" if r["n"] >= kid_min_n else ""
    text = (f"**≥ {level:.0%} accuracy** needs at least: " + ", ".join(
        f"{s}: **{_count(k, 'step')}**" if k is not None else f"{s}: **not reached** (best {best[s]:.1%})"
        for s, k in fewest.items())
        + f". **Within {margin * 100:g} point of the sampler's own best accuracy**: "
        + ", ".join(f"{s}: {_count(k, 'step')} ({at(s, k)['accuracy']:.1%})" for s, k in near_best.items()) + ".")
    few = min(r["steps"] for r in rows)
    if kid_real is not None:
        one = min((at(s, few) for s in samplers if at(s, few) is not None), key=lambda r: r["kid"])
        text += (f" **As close to real digits as two real sets are** (KID at most {kid_real:.4f} + {kid_noise:.4f}, "
                 f"n = {kid_min_n} or more): " + ", ".join(
                     f"{s}: {_count(k, 'step')}" if k is not None else f"{s}: not reached" for s, k in real_kid.items())
                 + f". With {_count(few, 'step')} the best KID is {one['kid']:.4f} ({one['sampler']}, {one['accuracy']:.0%} "
                 f"read): " + ("readable, yet further from real digits than the noise allows (by KID; what differs, e.g. blur, is "
                               "not measured here)."
                               if not real_like(one) else "as close to real digits as real ones."))
    if slow_row is None:
        status = CANNOT_TELL
        text += f" The sweep has no {slow[0]} chain of {slow[1]} steps to compare with."
    elif fast is None:
        status = CANNOT_TELL
        text += " No setting is both near its best accuracy and as close to real digits as real ones, so this sweep " \
                "cannot say how few steps would do."
    elif fast["steps"] >= slow_row["steps"]:
        status = CANNOT_TELL
        text += (f" No setting with fewer steps than the {slow[0]} chain of {slow_row['steps']} steps "
                 f"({slow_row['accuracy']:.1%}, n = {slow_row['n']}) is good by these criteria, so this sweep "
                 f"cannot say whether fewer steps would do.")
    else:
        gap = slow_row["accuracy"] - fast["accuracy"]
        apart = _apart(slow_row["accuracy"], slow_row["n"], fast["accuracy"], fast["n"])
        status = NOT_SUPPORTED if gap <= margin else SUPPORTED if apart > 0 else CANNOT_TELL
        lo, hi = _wilson(slow_row)
        wide = slow_row["n"] < fast["n"] and hi - lo > 2 * margin                       # the long chain on few digits
        text += (f" {slow[0]} with {_count(slow_row['steps'], 'step')} makes **{slow_row['images_per_s']:.3g} images/s** "
                 f"({slow_row['accuracy']:.1%} accuracy, 95 % interval {_interval(slow_row)}{kid(slow_row)}, "
                 f"n = {slow_row['n']}); {fast['sampler']} with {_count(fast['steps'], 'step')} makes "
                 f"**{fast['images_per_s']:.3g} images/s** ({fast['accuracy']:.1%}, {_interval(fast)}{kid(fast)}, "
                 f"n = {fast['n']}): {slow_row['steps'] / fast['steps']:.0f}× fewer network calls, "
                 f"{fast['images_per_s'] / slow_row['images_per_s']:.0f}× the images per second here"
                 + (f" (batches of {slow_row['n']} and {fast['n']} digits, which changes the rate per call). "
                    if slow_row["n"] != fast["n"] else ". "))
        alike = (f"reads {fast['accuracy']:.1%} of its digits, and they are as close to real ones as real ones are to "
                 "each other" if kid_real is not None else f"reads {fast['accuracy']:.1%} of its digits")
        text += {NOT_SUPPORTED: "So the report's *slow generation* comes from running all the steps, not from the "
                                f"trained network: the same network sampled with {fast['sampler']} in "
                                f"{slow_row['steps'] // fast['steps']}× fewer steps {alike}."
                                + (f" The long chain's {slow_row['n']} digits cannot show a difference of a few points "
                                   "(see its interval): the verdict rests on the fast setting's own accuracy and "
                                   "distance to real digits." if wide else ""),
                 SUPPORTED: f"With fewer steps the accuracy drops {gap * 100:.1f} points below the full chain, beyond "
                            "the binomial noise, so the slowness is partly real.",
                 CANNOT_TELL: f"The fast setting reads {gap * 100:.1f} points below the full chain, within the "
                              f"binomial noise of n = {slow_row['n']} and {fast['n']} digits."}[status]
    if kid_real is None:
        text += f" With {_count(few, 'step')}: " + ", ".join(f"{s} {at(s, few)['accuracy']:.0%}" for s in samplers
                                                      if at(s, few) is not None) + " accuracy."
    return Verdict(status, text, {"fewest": fewest, "near_best": near_best, "real_kid": real_kid, "best": best,
                                  "fast": fast, "slow": slow_row})


def distillation_pays(pairs: list, kid_noise: float) -> Verdict:
    """Does a distilled model (guidance and steps distilled in: one U-Net call a step) make better
    digits than the teacher's own few-step solver at the same number of U-Net calls per digit?

    pairs: [(calls, distilled row, solver row)], sweep rows ({"accuracy", "kid", "n", "steps"});
    kid_noise: the noise of a KID at that n (e.g. twice its spread over real draws). A pair is won
    when one side's KID is lower beyond the noise and its accuracy is not lower beyond the binomial
    noise (disjoint Wilson intervals), or its accuracy is higher beyond the noise and its KID not
    higher. Supported when the distilled model wins every pair, not supported when the solver wins one
    or none is decided, cannot tell when some pairs are within the noise and the rest won.
    numbers: "wins" {calls: +1 distilled, -1 solver, 0 within the noise}.
    """
    if not pairs:
        return Verdict(CANNOT_TELL, "no distilled setting has a solver setting with the same number of calls.",
                       {"wins": {}})
    wins, parts = {}, []
    for calls, fast, slow in pairs:
        acc = _apart(fast["accuracy"], fast["n"], slow["accuracy"], slow["n"])
        kid = differs(slow["kid"], fast["kid"], kid_noise)            # +1: the distilled KID is lower
        wins[calls] = (1 if (kid > 0 and acc >= 0) or (acc > 0 and kid >= 0) else
                       -1 if (kid < 0 and acc <= 0) or (acc < 0 and kid <= 0) else 0)
        parts.append(f"**{_count(calls, 'call')}**: distilled ({_count(fast['steps'], 'step')}) {fast['accuracy']:.1%}, KID "
                     f"{fast['kid']:.4f} against the solver ({_count(slow['steps'], 'step')}) {slow['accuracy']:.1%}, KID "
                     f"{slow['kid']:.4f} (" + {1: "distilled better", -1: "solver better",
                                               0: "within the noise"}[wins[calls]] + ")")
    w = list(wins.values())
    status = (SUPPORTED if all(x > 0 for x in w) else NOT_SUPPORTED if -1 in w or not any(w) else CANNOT_TELL)
    return Verdict(status, "; ".join(parts) + f". KID noise ± {kid_noise:.4f}; accuracies differ only where their "
                   "95 % intervals are apart.", {"wins": wins})


def guidance_gives_flexibility(rows: list, n: int, fd_spread: float, div_spread: float = 0.0) -> Verdict:
    """The report: classifier-free guidance gives "more flexibility". rows: a guidance sweep in
    increasing scale ({"guidance", "accuracy", "diversity", "fd"}), n digits each; fd_spread: the
    draw-to-draw standard deviation of the Fréchet distance at n (helpers.evaluate.real_vs_real_spread),
    div_spread the same for the diversity. Guidance is a knob when the accuracy at the largest scale differs from the plain conditional
    model's (w = 1, else the first row) with 95 % Wilson intervals apart: supported when it rises, not
    supported when it falls, cannot tell within the noise. The text says what it costs: diversity,
    a second U-Net pass, and realism beyond the scale with the lowest Fréchet distance.
    numbers: "acc_up" (raw), "div_down" (beyond twice div_spread; the largest scale against the
    reference) and "best_fd_guidance"."""
    g0, gmax = rows[0], rows[-1]
    g1 = next((r for r in rows if r["guidance"] == 1), None)
    ref, best = g1 or g0, min(rows, key=lambda r: r["fd"])
    d = _apart(gmax["accuracy"], n, ref["accuracy"], n)
    acc_up = gmax["accuracy"] > ref["accuracy"]
    div_down = differs(ref["diversity"], gmax["diversity"], 2 * div_spread) > 0
    status = SUPPORTED if d > 0 else NOT_SUPPORTED if d < 0 else CANNOT_TELL
    text = (f"from w = {g0['guidance']:g} to w = {gmax['guidance']:g}, accuracy goes from {g0['accuracy']:.1%} to "
            f"{gmax['accuracy']:.1%} and diversity from {g0['diversity']:.2f} to {gmax['diversity']:.2f} "
            f"(n = {n} each; ± {2 * div_spread:.2f} for a difference of two diversities). The Fréchet distance to real digits is lowest at **w = {best['guidance']:g}** "
            f"({best['fd']:.2f}, accuracy {best['accuracy']:.1%}"
            + (f"; plain conditional w = 1: {g1['fd']:.2f}, accuracy {g1['accuracy']:.1%})" if g1 else ")"))
    tied = [r["guidance"] for r in rows if r is not best and r["fd"] - best["fd"] <= 2 * fd_spread]
    text += (f", but w = {', '.join(f'{w:g}' for w in tied)} {'is' if len(tied) == 1 else 'are'} within twice the "
             f"draw-to-draw spread of real sets ({2 * fd_spread:.2f}) of it, so which of these is closest to real "
             f"digits cannot be told." if tied else ".")
    ref_name = f"w = {ref['guidance']:g}"
    ci = lambda r: _interval({**r, "n": n}, 1)
    text += (f" The knob is judged between {ref_name} and w = {gmax['guidance']:g}: accuracy "
             f"{ref['accuracy']:.1%} ({ci(ref)}) against {gmax['accuracy']:.1%} ({ci(gmax)}, 95 % intervals).")
    text += {SUPPORTED: " Guidance is a real knob, as the report says, but a **trade-off**: stronger guidance makes "
                        "the requested digit more certain and the samples more alike" if div_down else
                        " Stronger guidance makes the requested digit more certain; whether the samples become "
                        f"more alike cannot be told ({ref_name} {ref['diversity']:.2f}, w = {gmax['guidance']:g} "
                        f"{gmax['diversity']:.2f}: within the noise)",
             NOT_SUPPORTED: f" Stronger guidance lowers the accuracy below {ref_name}'s, beyond the binomial noise",
             CANNOT_TELL: f" At w = {gmax['guidance']:g} the accuracy is within the binomial noise of "
                          f"{ref_name}'s"}[status]
    if best is not gmax:
        far = gmax["fd"] - best["fd"] > 2 * fd_spread
        change = f"Fréchet {best['fd']:.2f} → {gmax['fd']:.2f} at w = {gmax['guidance']:g}"
        spread = f"twice the draw-to-draw spread of real sets, {2 * fd_spread:.2f}"
        text += (f"; beyond w = {best['guidance']:g} the samples move away from real handwriting again ({change}, "
                 f"more than {spread})" if far else
                 f"; beyond w = {best['guidance']:g} the Fréchet distance rises ({best['fd']:.2f} → {gmax['fd']:.2f} "
                 f"at w = {gmax['guidance']:g}), but within {spread}, "
                 "so not a measured difference")
    text += ". Every w other than 0 and 1 also costs a second U-Net pass per step."
    return Verdict(status, text, {"acc_up": acc_up, "div_down": div_down, "best_fd_guidance": best["guidance"],
                                  "fd_tied": tied})


# the report's claims: CLIP scores, easy and hard digits (notebook 05) -------------------------

def clip_score_carries_digit(score_mean: float, per_digit, margin: float, noise: float, zero_shot_acc: float,
                             classifier_acc: float, n: int) -> Verdict:
    """Do CLIP scores check *"the quality of generated images' adherence to their designated
    classifications"*? score_mean, per_digit: CLIP scores (100 x cos) against the requested digit's
    prompt, overall and per digit; margin: how much higher that is than against the other nine
    digits' prompts, with noise (two standard errors, paired over the n images). Supported when the
    margin is above 0 beyond the noise, not supported when below, cannot tell within it."""
    d = differs(margin, 0.0, noise)
    status = SUPPORTED if d > 0 else NOT_SUPPORTED if d < 0 else CANNOT_TELL
    text = (f"mean CLIP score against the requested digit's prompt: **{score_mean:.1f}** (per digit "
            f"{min(per_digit):.1f} to {max(per_digit):.1f}); against the other digits' prompts it is {margin:.1f} "
            f"points lower on average (noise ± {noise:.2g})")
    text += {SUPPORTED: ", so the score does carry the digit's identity.",
             NOT_SUPPORTED: ": the score prefers the wrong digits' prompts.",
             CANNOT_TELL: ": within the noise, the score does not tell the requested digit from the others."}[status]
    text += (f" CLIP zero-shot reads **{zero_shot_acc:.1%}** of the generated digits as the requested digit, the "
             f"classifier **{classifier_acc:.1%}** (n = {n}).")
    return Verdict(status, text, {"margin": margin, "noise": noise})


def digits_at_ceiling(per_digit, n: int, level: float = 0.9) -> Verdict:
    """Are a model's digits at the ceiling, where a ranking of easy and hard digits is noise?
    per_digit: the classifier's accuracy on each digit, n samples each. Supported (at the ceiling)
    when every digit's Wilson interval starts at or above level, not supported otherwise."""
    lows = [wilson_interval(round(a * n), n)[0] for a in per_digit]
    ceiling = min(lows) >= level
    worst = min(range(len(per_digit)), key=lambda d: per_digit[d])
    text = (f"the classifier reads {min(per_digit):.0%} to {max(per_digit):.0%} of each digit (n = {n} per digit); "
            f"the lowest 95% interval starts at {min(lows):.0%}" + (
                f", at or above {level:.0%} for every digit: at the ceiling, where an order of the ten digits is "
                f"noise." if ceiling else f", below {level:.0%} (digit {worst}): there are mistakes to rank."))
    return Verdict(SUPPORTED if ceiling else NOT_SUPPORTED, text, {"at_ceiling": ceiling, "lowest": min(lows)})


def _rank_part(rank, values, noise, claimed, top: int, hard: bool) -> str:
    """One half of easy_and_hard_digits: are the claimed digits among the `top` easiest (hard: the
    `top` hardest) of rank, beyond the noise of the values at the group's edge?"""
    group = rank[-top:] if hard else rank[:top]
    edge_in, edge_out = (rank[-top], rank[-top - 1]) if hard else (rank[top - 1], rank[top])
    gap = lambda a, b: values[a] - values[b] - math.hypot(noise[a], noise[b])    # > 0: a easier beyond noise
    if all(d in group for d in claimed):
        clear = all((gap(edge_out, d) if hard else gap(d, edge_out)) > 0 for d in claimed)
        return SUPPORTED if clear else CANNOT_TELL
    out = [d for d in claimed if d not in group]
    clear = any((gap(d, edge_in) if hard else gap(edge_in, d)) > 0 for d in out)
    return NOT_SUPPORTED if clear else CANNOT_TELL


RANK_WORDS = {SUPPORTED: "holds", NOT_SUPPORTED: "does **not** hold", CANNOT_TELL: "is within the noise"}


def easy_and_hard_digits(rank, values, noise, judge: str, easy=(1, 0), hard=(5, 8), top: int = 3,
                         fmt: str = "{:.2g}") -> Verdict:
    """The report: the model finds *"1" and "0"* easy and *"5" or "8"* hard. rank: the ten digits,
    easiest first, by one judge; values[d]: the judge's measure for digit d (higher = easier, e.g.
    mean CLIP score or accuracy) with noise[d] (two standard errors). Each half of the claim holds
    when its digits are among the `top` easiest (hardest) and differ from the digit just outside
    that group beyond the noise of the difference; it fails when one of them lies outside the group
    beyond that noise; otherwise it is within the noise. Both halves combined with combine().
    fmt writes the noise in the judge's units (e.g. "{:.0%}" for accuracies). numbers: "easy_in",
    "hard_in": whether the digits are in the groups at all (noise aside); "easy", "hard": each half's
    status, noise included."""
    rank = list(rank)
    parts = [_rank_part(rank, values, noise, easy, top, False), _rank_part(rank, values, noise, hard, top, True)]
    pos = lambda d: rank.index(d) + 1
    spread = 2 ** 0.5 * sum(noise[d] for d in rank) / len(rank)
    text = (f"by {judge}: easiest {_listing(rank[:top])}, hardest {_listing(rank[-top:])}; "
            f"{' and '.join(map(str, sorted(easy)))} rank "
            f"{' and '.join(str(pos(d)) for d in sorted(easy))}, {' and '.join(map(str, sorted(hard)))} rank "
            f"{' and '.join(str(pos(d)) for d in sorted(hard))} of {len(rank)} (noise of a difference between two "
            f"digits about ± {fmt.format(spread)}): *easy {' and '.join(map(str, easy))}* {RANK_WORDS[parts[0]]}, "
            f"*hard {' and '.join(map(str, sorted(hard)))}* {RANK_WORDS[parts[1]]}.")
    v = combine([Verdict(s, "") for s in parts], text)
    v.numbers.update({"easy_in": set(easy) <= set(rank[:top]), "hard_in": set(hard) <= set(rank[-top:]),
                      "easy": parts[0], "hard": parts[1]})
    return v


def rankings_agree(rank_a, rank_b, names=("CLIP score", "classifier"), n_per_digit: "int | None" = None,
                   z: float = 1.96) -> Verdict:
    """Do two judges rank the digits alike, so that "easy" and "hard" are properties of the digits?
    rank_a, rank_b: the same digits, easiest first. Spearman's rho against its two-sided 95% level
    for len(rank) items (about z / sqrt(n - 1); 0.65 for ten digits): supported above it, not
    supported below minus it (they rank in opposite orders), cannot tell in between."""
    n = len(rank_a)
    d2 = sum((rank_a.index(d) - rank_b.index(d)) ** 2 for d in rank_a)
    rho = 1 - 6 * d2 / (n * (n * n - 1))
    crit = z / math.sqrt(n - 1)
    status = SUPPORTED if rho >= crit else NOT_SUPPORTED if rho <= -crit else CANNOT_TELL
    text = (f"the rankings by {names[0]} and by {names[1]} correlate with Spearman ρ = {rho:.2f} (two random orders "
            f"of {n} digits: within ± {crit:.2f} in 95% of draws)")
    text += {SUPPORTED: ": the two judges agree on which digits are easy.",
             NOT_SUPPORTED: ": the two judges rank the digits in opposite orders.",
             CANNOT_TELL: ": no more alike than two random orders, so the judges do not agree on which digits are easy"
                          + (f" (n = {n_per_digit} per digit)" if n_per_digit else "") + "."}[status]
    return Verdict(status, text, {"rho": rho, "level": crit})


def clip_second_validator(agree: float, n: int, n_disputed: int, n_shown: int, both_wrong: float,
                          clf_right: "float | None" = None, clip_right: "float | None" = None,
                          level: float = 0.9) -> Verdict:
    """Is CLIP a *"second validating system"* next to the classifier? agree: the share of n generated
    digits on which CLIP zero-shot and the classifier name the same digit; n_disputed of them they
    dispute (n_shown shown); clf_right, clip_right: the share of disputed samples each reads as
    requested. Supported when the agreement's 95% Wilson interval lies above level, not supported
    when it lies below, cannot tell when it straddles level."""
    lo, hi = wilson_interval(round(agree * n), n)
    status = SUPPORTED if lo >= level else NOT_SUPPORTED if hi < level else CANNOT_TELL
    shown = "" if not n_disputed else " (shown above)" if n_shown >= n_disputed else f" (the first {n_shown} shown above)"
    text = (f"CLIP and the classifier agree on **{agree:.1%}** of the {n} generated digits (95% interval {lo:.1%}–"
            f"{hi:.1%}, against {level:.0%}); they disagree on {n_disputed}{shown}. Both are wrong on {both_wrong:.1%}. ")
    text += (f"Of the disputed samples the classifier agrees with the request on {clf_right:.0%}, CLIP on "
             f"{clip_right:.0%}. " if n_disputed else
             "With no disputed sample, CLIP adds no information the classifier did not already give on this set. ")
    text += {SUPPORTED: "CLIP mostly confirms the classifier, so it works as a second validator; the disputed "
                        "samples are the ambiguous shapes worth looking at.",
             NOT_SUPPORTED: "They name different digits too often for CLIP to confirm the classifier.",
             CANNOT_TELL: f"{n} digits cannot place the agreement above or below {level:.0%}."}[status]
    return Verdict(status, text, {"interval": (lo, hi)})


def clip_improves_sampling(method: str, plain: dict, other: dict, n: int, kid_noise: float, cost: str,
                           plain_same_budget: "float | None" = None, kid_real: "float | None" = None,
                           digits: str = "the weakest digits'") -> Verdict:
    """Can CLIP improve generation without retraining? plain, other: {"weak_acc" (classifier accuracy
    on the n samples of the weakest digits), "clip" (their mean CLIP score), "kid" (the 10-digit set's
    kernel distance to real digits)} for plain sampling and for `method`. Accuracy noise: binomial
    on n; kid_noise: twice the draw-to-draw spread of real-vs-real KIDs at the set's size
    (evaluate.real_vs_real_spread). Supported when accuracy or KID improves beyond its noise and
    neither gets worse, not supported when one gets worse and neither improves, partly when one
    improves and the other gets worse, cannot tell when both change within the noise."""
    acc_noise = difference_noise(plain["weak_acc"], other["weak_acc"], n)
    moves = [differs(other["weak_acc"], plain["weak_acc"], acc_noise), differs(plain["kid"], other["kid"], kid_noise)]
    up, down = 1 in moves, -1 in moves
    status = PARTLY if up and down else SUPPORTED if up else NOT_SUPPORTED if down else CANNOT_TELL
    same = f"; {plain_same_budget:.1%} over all candidates" if plain_same_budget is not None else ""
    real = (f"; two disjoint sets of real test digits score {kid_real:.4f}, 0 within the noise: KID is an unbiased "
            "estimate and can fall below 0" if kid_real is not None else "")
    text = (f"{method} moves {digits} classifier accuracy from {plain['weak_acc']:.1%} (plain{same}) to "
            f"**{other['weak_acc']:.1%}** (noise ± {acc_noise:.1%}, {n} samples), their CLIP score from "
            f"{plain['clip']:.1f} to {other['clip']:.1f}, and the 10-digit KID to real digits from {plain['kid']:.4f} "
            f"to **{other['kid']:.4f}** (noise ± {kid_noise:.4f}{real}). It costs {cost}. ")
    text += {SUPPORTED: "CLIP improves the digits beyond the noise.",
             NOT_SUPPORTED: ("It makes the digits worse beyond the noise: " + " and ".join(
                 name for name, m in zip(("their accuracy", "their KID"), moves) if m < 0)
                 + (" worse, the other within the noise." if 0 in moves else " worse.")),
             PARTLY: "It improves one measure beyond the noise and worsens the other.",
             CANNOT_TELL: "Both changes are within the sampling noise."}[status]
    if plain["weak_acc"] >= 0.99:
        text += (" The plain samples are already almost all read correctly, so there is "
                 "little accuracy to gain.")
    return Verdict(status, text, {"moves": moves, "acc_noise": acc_noise})


# the report's claims: applications (notebook 06) ---------------------------------------------

def straight_line_fades(norm: dict, ink: dict, confidence: dict, digit: int, fade: float = 0.9) -> Verdict:
    """Does interpolating the starting noise on a straight line fade the digit halfway?

    norm, ink, confidence: {"slerp": (P, K), "straight line": (P, K)} over P noise pairs and K
    points w = 0..1: |x_T| / sqrt(dim), the image's mean pixel value and the classifier's
    probability of `digit`. The line's middle images (w at K // 2) fade when they carry less than
    `fade` times the ink of the end points (the same for both paths); the noise is two standard
    errors of that ratio over the P paths (one path: cannot tell).
    """
    line, sl, mid = "straight line", "slerp", ink["slerp"].shape[1] // 2
    end_ink = ink[sl][:, [0, -1]].mean().item()                          # w = 0 and 1: the same images for both paths
    ratio = ink[line][:, mid] / end_ink                                   # (P,) per path
    p = len(ratio)
    noise = mean_noise(ratio)
    r = ratio.mean().item()
    nums = {"lerp_mid_norm": norm[line][:, mid].mean().item(), "slerp_mid_norm": norm[sl][:, mid].mean().item(),
            "lerp_mid_ink_ratio": r, "slerp_mid_ink_ratio": ink[sl][:, mid].mean().item() / end_ink,
            "lerp_mid_confidence": confidence[line][:, mid].mean().item(),
            "slerp_mid_confidence": confidence[sl][:, mid].mean().item()}
    status = SUPPORTED if r + noise < fade else NOT_SUPPORTED if r - noise >= fade else CANNOT_TELL
    text = (f"halfway the straight line's noise has {nums['lerp_mid_norm']:.2f} of the usual norm, slerp's "
            f"{nums['slerp_mid_norm']:.2f}. The line's middle images carry {r:.2f} ± {noise:.2f} times the ink of the "
            f"end points (slerp: {nums['slerp_mid_ink_ratio']:.2f}; a fade would be below {fade:g}), and the "
            f"classifier's confidence that they show a {digit} is {nums['lerp_mid_confidence']:.2f} against "
            f"{nums['slerp_mid_confidence']:.2f} for slerp (means over {p} paths). ")
    text += {SUPPORTED: "A shorter noise acts like a lower noise level: the sampler removes too little and the digit "
                        "comes out faint or smoothed. Slerp keeps the images in the family of the end points.",
             NOT_SUPPORTED: "Here the straight line's shorter noise made little visible difference.",
             CANNOT_TELL: "Whether the shorter noise fades the digit is within the path-to-path noise."}[status]
    return Verdict(status, text, nums)


def hybrids_switch(switches: list, mid_probability: list, pairs, w_mid: float = 0.5, read_as_pair: float = 0.8,
                   off_centre: float = 0.15, bands=None, mid_noise=None) -> Verdict:
    """Does mixing two class embeddings morph digit a into digit b, switching halfway?

    switches: per pair (a, b), the w at which the classifier's P(b) overtakes P(a) (NaN: never);
    bands: per pair, (earliest, latest) switch within the noise of P(b) - P(a) (helpers.analysis.
    crossing_band; None: the switch alone); mid_probability: per pair, P(a) + P(b) at w_mid, and
    mid_noise its noise (two standard errors over the starting noises; None: none). Two parts: every
    mixture is read as one of the two digits (P(a) + P(b) above read_as_pair at w_mid for every pair
    beyond its noise; not supported when one pair is below it beyond its noise), and the switch is
    centred: supported when every band lies within off_centre of 0.5 (how near counts
    as "halfway"), not supported when one lies wholly outside it, cannot tell when a band straddles
    its edge or no pair switched. A part that cannot be told makes the whole "cannot tell" unless the
    other part fails.
    """
    noisy = bands is not None
    if noisy:          # each band holds its switch; a NaN end is the switch itself (earliest) or never (latest)
        bands = [(s, s) if math.isnan(s) else (s if math.isnan(lo) else min(s, lo),
                                               math.inf if math.isnan(hi) else max(s, hi))
                 for s, (lo, hi) in zip(switches, bands)]
    else:
        bands = [(s, s) for s in switches]
    found = [(b, pair) for s, b, pair in zip(switches, bands, pairs) if not math.isnan(s)]
    mid_noise = mid_noise if mid_noise is not None else [0.0] * len(pairs)
    worst = min(range(len(pairs)), key=lambda i: mid_probability[i] + mid_noise[i])
    lo, hi = min(mid_probability), max(mid_probability)
    reads = [at_least(p, read_as_pair, e).status for p, e in zip(mid_probability, mid_noise)]
    read = (SUPPORTED if all(r == SUPPORTED for r in reads) else NOT_SUPPORTED if NOT_SUPPORTED in reads
            else CANNOT_TELL)
    doubtful = [pair for pair, r in zip(pairs, reads) if r == CANNOT_TELL]
    band = lambda b: f", noise band {b[0]:.2f}–{'never' if math.isinf(b[1]) else f'{b[1]:.2f}'}" if noisy else ""
    text = ("the classifier's verdict flips from `a` to `b` at w = "
            + ", ".join("never" + f" ({a} -> {b})" if math.isnan(s) else f"{s:.2f} ({a} -> {b}{band(bd)})"
                        for s, bd, (a, b) in zip(switches, bands, pairs))
            + f". At w = {w_mid:.1f} it gives `a` and `b` together {lo:.2f} to {hi:.2f} of its probability"
            + (f" (noise ± {min(mid_noise):.2f} to ± {max(mid_noise):.2f})" if any(mid_noise) else "") + ": ")
    if read == SUPPORTED:
        text += (f"above {read_as_pair:g} for every pair, so the mixtures stay digit-like and are read as one of "
                 "the two: a 'hybrid' is mostly a morph that switches somewhere along the way rather than a digit "
                 "that is half one and half the other. ")
    elif read == NOT_SUPPORTED:
        (a, b), p = pairs[worst], mid_probability[worst]
        text += (f"for {a} -> {b} {1 - p:.0%} of it goes to other digits"
                 + (" (the mixture is read as neither)" if p < 0.5 else "")
                 + ": between two digits the embedding can point toward a third shape. ")
    else:
        text += (f"whether the mixtures are read as one of the two (above {read_as_pair:g}) cannot be told for "
                 + ", ".join(f"{a} -> {b}" for a, b in doubtful) + ", whose share is within its noise of that line. ")
    edge_lo, edge_hi = 0.5 - off_centre, 0.5 + off_centre
    off = [pair for (b_lo, b_hi), pair in found if b_hi < edge_lo or b_lo > edge_hi]
    open_ = [pair for (b_lo, b_hi), pair in found if (b_lo < edge_lo or b_hi > edge_hi) and pair not in off]
    centred = CANNOT_TELL if not found or (open_ and not off) else NOT_SUPPORTED if off else SUPPORTED
    listing = lambda ps: ", ".join(f"{a} -> {b}" for a, b in ps)
    text += {SUPPORTED: f"The switch is centred at w = 0.5 (every pair within {edge_lo:g}–{edge_hi:g}"
                        + (", with its noise)." if noisy else ")."),
             NOT_SUPPORTED: f"The switch is not centred at w = 0.5 ({listing(off)} outside {edge_lo:g}–{edge_hi:g}"
                            f"{' beyond the noise' if noisy else ''}): one digit's "
                            "embedding can dominate the other's.",
             CANNOT_TELL: ("No pair switched, so where the switch lies cannot be told." if not found else
                           f"Whether the switch is centred at w = 0.5 cannot be told: within the noise the switch of "
                           f"{listing(open_)} reaches beyond {edge_lo:g}–{edge_hi:g}.")}[centred]
    v = combine([Verdict(read, ""), Verdict(centred, "")], text)
    if CANNOT_TELL in (read, centred) and NOT_SUPPORTED not in (read, centred):
        v.status = CANNOT_TELL     # a part that cannot be told leaves the claim untold, not partly held
    v.numbers = {"hybrid_switch_w": [round(s, 3) for s in switches], "hybrid_mid_ab_probability": list(mid_probability),
                 "hybrid_mid_ab_noise": list(mid_noise),
                 "hybrid_switch_band": [[round(x, 3) if math.isfinite(x) else None for x in b] for b in bands]}
    return v


def guidance_thickens(scales, accuracy, ink) -> Verdict:
    """Does strong classifier-free guidance draw heavier strokes?

    scales: the guidance scales, increasing; accuracy: share of digits read as their label at each
    scale; ink: (len(scales), N) mean pixel value of each image, the same N starting noises at every
    scale. The ink change is measured from w = 1 (plain conditional sampling; below it the label is
    weakened or ignored, so the digit itself changes, not only its strokes; the first scale when none
    from 1 precedes the last) to the last scale, paired by noise; its noise is two standard errors of
    the paired mean.
    """
    i = next((k for k, w in enumerate(scales[:-1]) if w >= 1), 0)     # no scale from 1 below the last: the first
    d = ink[-1] - ink[i]
    n = len(d)
    noise = mean_noise(d)
    i0, i1, m = ink[i].mean().item(), ink[-1].mean().item(), d.mean().item()
    status = SUPPORTED if m > noise else NOT_SUPPORTED if m < -noise else CANNOT_TELL
    text = (f"({n} images per scale.) At w = {scales[0]:g} {accuracy[0]:.0%} of the digits match their label, at "
            f"w = {scales[i]:g} {accuracy[i]:.0%}, at w = {scales[-1]:g} {accuracy[-1]:.0%}. "
            + (f"Below w = {scales[i]:g} the label is weakened or ignored, so the comparison starts there: " if i else "")
            + f"from w = {scales[i]:g} to w = {scales[-1]:g} the mean ink goes from {i0:.3f} to {i1:.3f} "
            + (f"({m:+.3f} ± {noise:.3f}, paired by starting noise): " if math.isfinite(noise) else "(no noise to judge by): ")
            + {SUPPORTED: "strong guidance draws heavier strokes.",
               NOT_SUPPORTED: "strong guidance draws lighter strokes.",
               CANNOT_TELL: "the change in ink is within the noise."}[status])
    return Verdict(status, text, {"ink_change": m, "noise": noise, "from_guidance": scales[i]})


# two-sided 95 % Student t quantiles by degrees of freedom (a mean over few seeds: 2 would be too narrow)
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23}


def augmentation_effect(gain: float, spread: float, seeds: int) -> tuple:
    """("helps" / "hurts" / "no measurable effect" / "cannot tell", noise) for a mean paired gain over
    seeds with standard deviation spread: the noise is the 95 % Student t half-width,
    t(seeds - 1) spread / sqrt(seeds) (about two standard errors from 11 seeds on; one seed: cannot tell)."""
    if seeds < 2:
        return "cannot tell", math.inf
    noise = T95.get(seeds - 1, 2.0) * spread / math.sqrt(seeds)
    return ("helps" if gain > noise else "hurts" if gain < -noise else "no measurable effect"), noise


def generated_digits_help(gains: list, generated_only: float) -> Verdict:
    """Do generated digits help a classifier that has only a few real examples?

    gains: helpers.applications.augmentation_gains rows ({"n", "gain", "spread", "seeds"}), by
    increasing n; generated_only: the accuracy of classifiers trained on generated digits alone.
    Supported when they help at the smallest n beyond the noise; partly when they help only at a
    larger n; not supported when they help nowhere and hurt somewhere; cannot tell when every
    effect is within the noise. "vanishes_at": the smallest n from which on they no longer help.
    """
    judged = [augmentation_effect(g["gain"], g["spread"], g["seeds"]) for g in gains]
    effects = [e for e, _ in judged]
    helped = [g["n"] for g, e in zip(gains, effects) if e == "helps"]
    vanish = next((g["n"] for i, g in enumerate(gains) if "helps" not in effects[i:]), None) if helped else None
    status = (SUPPORTED if effects[0] == "helps" else PARTLY if helped else
              NOT_SUPPORTED if "hurts" in effects else CANNOT_TELL)
    text = ("paired by seed, adding the generated digits: " + "; ".join(
        f"{g['n']} real per digit: {100 * g['gain']:+.1f} ± {100 * noise:.1f} points (**{e}**)"
        for g, (e, noise) in zip(gains, judged))
        + f" (± the 95 % interval of the mean gain over {gains[0]['seeds']} seeds, a Student t interval because so "
          f"few seeds estimate their own spread roughly; an effect counts beyond it). A classifier "
          f"trained on the generated digits alone reaches {generated_only:.1%}. ")
    if vanish is not None:
        text += (f"The gain vanishes from {vanish} real digits per class on: there the real data already teach what "
                 "the generated ones add.")
    elif helped:
        text += f"The generated digits still help at {gains[-1]['n']} real digits per class, the largest set tried."
    elif status == NOT_SUPPORTED:
        text += "The generated digits helped at no size tried: they did not teach what the real ones do not."
    else:
        text += "Every effect is within the seed-to-seed noise: more seeds would tell whether they help."
    text += " Remember the caveat: these generated digits carry knowledge of 55,000 labelled images."
    return Verdict(status, text, {"effects": effects, "vanishes_at": vanish, "noise": [n for _, n in judged]})


def repaint_beats_mean_fill(results: dict, n: int, kept: float = 1e-5) -> Verdict:
    """Does RePaint complete hidden pixels better than filling them with the mean digit?

    results: {mask: {"mean fill": scores, "RePaint": scores, optionally "no fill": scores}}, scores
    as returned by helpers.applications.completion_scores on the same n digits. Each mask and
    baseline is one part: RePaint recognised more often beyond the binomial noise (accuracy_noise:
    two standard errors of the difference); with "no fill" (the visible part alone) RePaint must
    also beat doing nothing. The hidden-pixel MSE is compared too (noise: two standard errors of the paired
    per-image difference), and the known pixels must change by less than `kept`.
    """
    def acc_noise(p, q):
        return binomial_noise(p, q, n)

    masks, parts, by_acc, by_mse, over_nothing = list(results), [], [], [], []
    for k in masks:
        r, m = results[k]["RePaint"], results[k]["mean fill"]
        parts.append(better(r["accuracy"], m["accuracy"], acc_noise(r["accuracy"], m["accuracy"])))
        by_acc += [k] if parts[-1].status == SUPPORTED else []
        if "no fill" in results[k]:
            z = results[k]["no fill"]
            parts.append(better(r["accuracy"], z["accuracy"], acc_noise(r["accuracy"], z["accuracy"])))
            over_nothing += [k] if parts[-1].status == SUPPORTED else []
        d = r["hidden_mse_each"] - m["hidden_mse_each"]
        by_mse += [k] if differs(0.0, d.mean().item(), mean_noise(d)) > 0 else []
    disagree = [k for k in by_acc if k not in by_mse]
    plain = [k for k in masks if "no fill" in results[k]]
    hardest = min(masks, key=lambda k: results[k]["RePaint"]["accuracy"])
    known = max(results[k]["RePaint"]["known_error"] for k in masks)
    gap = lambda k, base: (f"{100 * (results[k]['RePaint']['accuracy'] - results[k][base]['accuracy']):+.0f} ± "
                           f"{100 * acc_noise(results[k]['RePaint']['accuracy'], results[k][base]['accuracy']):.0f}")
    text = (f"on {n} test digits per mask, RePaint's completions are recognised more often than mean fill's, "
            f"beyond the noise, for {len(by_acc)} of {len(masks)} masks ({', '.join(by_acc) or 'none'}; RePaint minus "
            f"mean fill in points, ± two binomial standard errors: "
            + ", ".join(f"{k} {gap(k, 'mean fill')}" for k in masks)
            + f"), and have the lower error on the hidden pixels for {len(by_mse)} of {len(masks)} "
              f"({', '.join(by_mse) or 'none'}). ")
    if plain:
        same = [k for k in plain if k not in over_nothing]
        text += (f"Against no fill (the visible part alone) they are recognised more often beyond the noise for "
                 f"{len(over_nothing)} of {len(plain)} ({', '.join(over_nothing) or 'none'})"
                 + (f"; for {', '.join(same)} the visible part alone is read as often or more ("
                    + ", ".join(f"{k}: {results[k]['no fill']['accuracy']:.0%} against "
                                f"{results[k]['RePaint']['accuracy']:.0%}, {gap(k, 'no fill')} points" for k in same)
                    + "), so there RePaint shows no gain over doing nothing. " if same else ". "))
    if disagree:
        text += (f"For {', '.join(disagree)} the two scores disagree. A likely reason, not tested here: the mean "
                 "image is the single guess with the smallest expected squared error when nothing is known, so a "
                 "sharp stroke in a slightly wrong place costs more squared error than a blur. ")
    text += (f"The hardest mask for RePaint is **{hardest}** ({results[hardest]['RePaint']['accuracy']:.0%} "
             "recognised; whether its misses are good digits of another class, which the visible part would also "
             "fit, is for you to look at in the figure). "
             + ("The visible pixels are kept" if known < kept else "The visible pixels are NOT kept exactly")
             + f": the largest change to a known pixel is {known:.1e}.")
    kinds = (("accuracy", "RePaint", "accuracy"), ("meanfill_accuracy", "mean fill", "accuracy"),
             ("hidden_mse", "RePaint", "hidden_mse"), ("meanfill_hidden_mse", "mean fill", "hidden_mse"))
    nums = {f"inpaint_{k}_{s}": results[k][name][key] for s, name, key in kinds for k in masks}
    nums |= {f"inpaint_{k}_nofill_accuracy": results[k]["no fill"]["accuracy"] for k in plain}
    v = combine(parts, text)
    v.numbers = {**nums, "inpaint_known_max_error": known}
    return v


def resampling_helps(once: dict, resampled: dict, n: int, tries: int, mask: str = "half") -> Verdict:
    """Does RePaint's resampling (`tries` tries per step) recognise more completions than one try?
    once, resampled: completion_scores ({"accuracy", "hidden_mse"}) on the same n digits with one
    mask; the noise is two binomial standard errors of the difference."""
    a, b = resampled["accuracy"], once["accuracy"]
    noise = binomial_noise(a, b, n)
    v = better(a, b, noise)
    text = (f"{mask} mask: one try per step gives {b:.0%} recognised (hidden-pixel MSE {once['hidden_mse']:.4f}); "
            f"{tries} tries give {a:.0%} ({resampled['hidden_mse']:.4f}), for {tries} times the network calls "
            f"(noise ± {100 * noise:.0f} points on {n} digits). "
            + {SUPPORTED: "Resampling helps: the completion agrees better with the visible half.",
               NOT_SUPPORTED: "Resampling recognised fewer completions here.",
               CANNOT_TELL: "The difference is within the noise: more digits (or steps) would be needed to see "
                            "whether resampling helps."}[v.status])
    return Verdict(v.status, text, {"accuracy_once": b, "accuracy_resampled": a, "noise": noise})


def sdedit_restores(curve: dict, baseline: tuple, t_match: int, n: int, ceiling: float = 0.9) -> Verdict:
    """Does SDEdit make noisy digits recognisable again?

    curve: helpers.applications.restoration_curve's result (first entry: the noisy input) on n
    digits; baseline: (PSNR, accuracy) of the mean filter; t_match: the noise-matching timestep.
    Supported when the best starting t beats the noisy input's accuracy beyond two binomial
    standard errors, not supported when it is worse beyond them; cannot tell within them, and
    also when the judge already reads the noisy inputs (the lower end of their Wilson interval at
    least `ceiling`): digits that were never unrecognisable cannot show a restoration by accuracy.
    The numbers are the restore_* metrics the notebook records.
    """
    ts, ps, ac = curve["t"][1:], curve["psnr"][1:], curve["accuracy"][1:]
    p0, a0 = curve["psnr"][0], curve["accuracy"][0]
    kp, ka = max(range(len(ps)), key=ps.__getitem__), max(range(len(ac)), key=ac.__getitem__)
    gain, psnr_there = ac[ka] - a0, ps[ka] - p0
    each = curve.get("psnr_each")          # per-image PSNR: the PSNR change's noise, paired by image
    psnr_noise = (lambda k: mean_noise(each[k + 1] - each[0])) if each else (lambda k: 0.0)
    pm_db = lambda k: f" ± {psnr_noise(k):.2f}" if each else ""
    noise = lambda p, q: binomial_noise(p, q, n)
    status = better(ac[ka], a0, noise(ac[ka], a0)).status
    readable = at_ceiling(a0, n, ceiling)
    if readable and status == SUPPORTED:
        status = CANNOT_TELL
    text = (f"the noisy inputs have a PSNR of {p0:.1f} dB and the judge reads {a0:.0%} of them"
            + (" already: they were never unrecognisable, so accuracy cannot show a restoration here" if readable else "")
            + f"; the mean filter gives {baseline[0]:.1f} dB and {baseline[1]:.0%}. "
            f"SDEdit's accuracy peaks at **{ac[ka]:.0%} when starting from t = {ts[ka]}** "
            f"(95 % interval {_interval({'accuracy': ac[ka], 'n': n})} on {n} digits; the noise-matching level is "
            f"t = {t_match}), with a PSNR of "
            f"{ps[ka]:.1f} dB there; its best PSNR is {ps[kp]:.1f} dB (t = {ts[kp]}, {ps[kp] - p0:+.2f}{pm_db(kp)} dB over "
            f"the noisy input, paired by image; the best of {len(ts)} starting points, so a little flattered). ")
    if differs(ac[ka], ac[-1], noise(ac[ka], ac[-1])) > 0:
        text += (f"Started from t = {ts[-1]} it recognises only {ac[-1]:.0%}: that noisy, the model (not told the "
                 "digit) no longer restores, it invents a new one. ")
    if abs(psnr_there) < 1.5 and gain > 0.2 and not readable:
        text += (f"PSNR hardly moves ({psnr_there:+.1f}{pm_db(ka)} dB) while recognisability rises by "
                 f"{100 * gain:.0f} points. A likely reason, not measured here: a generative restoration redraws "
                 "the strokes, a little displaced, and a pixel-wise score punishes a displaced stroke as much as "
                 "noise. Judge restorations by what they are for.")
    else:
        text += (f"At that t SDEdit changes the accuracy by {100 * gain:+.1f} points (± "
                 f"{100 * noise(ac[ka], a0):.1f}) and the PSNR by {psnr_there:+.2f}{pm_db(ka)} dB.")
    nums = {"restore_psnr_noisy": p0, "restore_psnr_meanfilter": baseline[0], "restore_psnr_best": ps[kp],
            "restore_psnr_gain": ps[kp] - p0, "restore_psnr_gain_noise": psnr_noise(kp), "restore_t_best": ts[kp], "restore_t_match": t_match,
            "restore_accuracy_noisy": a0, "restore_accuracy_gain": gain, "restore_t_best_accuracy": ts[ka],
            "restore_accuracy_best": ac[ka], "restore_accuracy_meanfilter": baseline[1],
            "restore_accuracy_largest_t": ac[-1], "restore_input_readable": readable}
    return Verdict(status, text, nums)


def clip_reads_prompts(heldout: tuple, train: tuple, tests: list, reads: list, unknown: list,
                       level: float = 0.9, default=None) -> Verdict:
    """Does the course's CLIP understand a typed prompt?

    heldout, train: (accuracy, number of prompts) of reading one-digit prompts in held-out and in
    training wordings; tests: unusual prompts [(prompt, digit meant or None, what it tests)];
    reads: the digit CLIP read in each; unknown: the words of each it does not know; default: (word,
    digit) CLIP reads for a word it does not know at all (None: not measured): a failed prompt with an
    unknown word that gets this digit says its vocabulary lacks the word, not which skill it lacks. Supported when
    it reads held-out one-digit prompts at >= level (beyond the binomial noise) and every unusual
    prompt that names a digit; partly when only the first holds.
    """
    one = at_least(heldout[0], level, proportion_noise(heldout[0], heldout[1]))
    named = [(p, d, r) for (p, d, _), r in zip(tests, reads) if d is not None]
    ok, wrong = [p for p, d, r in named if r == d], [p for p, d, r in named if r != d]
    failed = [(p, skill, r, u) for (p, d, skill), r, u in zip(tests, reads, unknown) if d is None or r != d]
    fallback = [f for f in failed if default is not None and f[3] and f[2] == default[1]]
    failed = [f for f in failed if f not in fallback]
    text = (f"CLIP reads the meant digit in {heldout[0]:.0%} of {heldout[1]} one-digit prompts with held-out wordings "
            f"(95 % interval {_interval({'accuracy': heldout[0], 'n': heldout[1]})}) and {train[0]:.0%} of {train[1]} with its training wordings. Of the "
            f"{len(named)} unusual prompts that name a digit, it gets {len(ok)} right "
            f"({', '.join(f'`{p}`' for p in ok) or 'none'}) and {len(wrong)} wrong "
            f"({', '.join(f'`{p}`' for p in wrong) or 'none'}). ")
    if one.status == SUPPORTED:
        text += ("What it understands: **which single digit** a short caption names, as a word or a numeral, in "
                 "wordings it never saw. ")
    if failed:
        text += ("What it cannot understand: " + ", ".join(
            f"{skill} (`{p}` -> {r}" + (f"; unknown: {', '.join(f'`{w}`' for w in u)}" if u else "") + ")"
            for p, skill, r, u in failed)
            + ". ")
    if fallback:
        text += (", ".join(f"`{p}`" for p, *_ in fallback) + f" get the digit CLIP gives a word it does not know at "
                 f"all (`{default[0]}` -> {default[1]}): their key word is missing from its vocabulary, so they show "
                 "that gap, not whether it could handle " + ", ".join(skill for _, skill, _, _ in fallback) + ". ")
    if failed or fallback:
        text += ("It always picks a digit, there is no 'none of these', so how many digits to draw is a slider, "
                 "not part of the prompt.")
    status = (one.status if one.status != SUPPORTED else SUPPORTED if not wrong else PARTLY)
    return Verdict(status, text, {"text_heldout_read_accuracy": heldout[0], "text_train_read_accuracy": train[0],
                                  "text_tricky_correct": len(ok), "text_tricky_total": len(named),
                                  "text_tricky_vocabulary_gaps": len(fallback)})



# the report's claims: the improvements (notebook 07) -----------------------------------------

def guidance_window_kind(window: dict, plain: list, n: int, fd_noise: float):
    """How guidance inside a window of timesteps compares with guidance at every step.

    window, plain: sweep rows ({"accuracy", "fd", "nfe", "guidance"}), plain = every-step scales; n
    digits per row; fd_noise: the draw-to-draw standard deviation of the Fréchet distance at n.
    A plain scale *matches* the window when it is at least as accurate and at most as distant,
    within the noise (two binomial standard errors; two fd_noise). Returns (kind, the cheapest
    matching plain row or None): "better" (no plain scale matches it), "weaker" (one matches it
    with no more passes), "cheaper" (the cheapest match needs more passes and ties it within the
    noise) or "trade" (a match at that cheapest cost is clearly better: it is the one returned).
    """
    def acc_noise(p, q):
        return binomial_noise(p, q, n)

    m = [p for p in plain if p["accuracy"] >= window["accuracy"] - acc_noise(window["accuracy"], p["accuracy"])
         and p["fd"] <= window["fd"] + 2 * fd_noise]
    if not m:
        return "better", None
    tied = lambda p: (abs(p["accuracy"] - window["accuracy"]) <= acc_noise(window["accuracy"], p["accuracy"])
                      and abs(p["fd"] - window["fd"]) <= 2 * fd_noise)
    fewest = [p for p in m if p["nfe"] == min(q["nfe"] for q in m)]
    p = next((q for q in fewest if not tied(q)), fewest[0])         # a clearly better one at that cost wins
    return ("weaker" if p["nfe"] <= window["nfe"] else "cheaper" if tied(p) else "trade"), p


WINDOW_WORDS = {"better": "better than any plain scale",
                "cheaper": "within the noise of a plain scale that needs more passes",
                "trade": "fewer passes but less quality than a plain scale",
                "weaker": "no better than a plain scale that needs no more passes"}


def guidance_window_verdict(windows: list, plain: list, n: int, fd_noise: float) -> Verdict:
    """Can guiding only inside a window of timesteps beat guiding at every step? (rows as in
    guidance_window_kind.) Supported if some window is better than every plain scale; partly if
    none is better but some is as good with fewer passes; not supported otherwise."""
    kinds = [guidance_window_kind(w, plain, n, fd_noise) for w in windows]
    parts = []
    for w, (kind, p) in zip(windows, kinds):
        lo, hi = w["guidance_interval"]
        parts.append(f"w = {w['guidance']:g} in [{lo}, {hi}] ({w['accuracy']:.1%}, Fréchet {w['fd']:.2f}, "
                     f"{w['nfe']} passes) is {WINDOW_WORDS[kind]}"
                     + ("" if p is None else f" (w = {p['guidance']:g} at every step: {p['accuracy']:.1%}, "
                                             f"{p['fd']:.2f}, {p['nfe']} passes; the window is "
                                             f"{100 * (w['accuracy'] - p['accuracy']):+.1f} points "
                                             f"± {100 * binomial_noise(w['accuracy'], p['accuracy'], n):.1f} and "
                                             f"{w['fd'] - p['fd']:+.2f} ± {2 * fd_noise:.2f} in Fréchet)"))
    found = [k for k, _ in kinds]
    status = SUPPORTED if "better" in found else PARTLY if "cheaper" in found else NOT_SUPPORTED
    return Verdict(status, "; ".join(parts) + f" (n = {n} per setting).", {"kinds": found})


def guidance_expressive_verdict(plain: list, diversity_real: float, noise: float = 0.0) -> Verdict:
    """The report hopes guidance gives "more expressive outputs". Rows of every-step scales in
    increasing order, each with "guidance", "accuracy", "diversity"; noise: the noise of a difference
    of two diversities (e.g. twice real_vs_real_spread's "diversity" at the rows' n). Not supported
    when the diversity falls from the smallest to the largest scale beyond the noise, supported when
    it rises beyond it, cannot tell within it."""
    a, b = plain[0], plain[-1]
    d = differs(b["diversity"], a["diversity"], noise)
    status = NOT_SUPPORTED if d < 0 else SUPPORTED if d > 0 else CANNOT_TELL
    ending = {NOT_SUPPORTED: "a larger scale makes the samples of a digit more alike, not more varied.",
              SUPPORTED: "a larger scale makes the samples of a digit more varied.",
              CANNOT_TELL: "the change is inside the noise: these samples cannot tell."}[status]
    return Verdict(status, f"from w = {a['guidance']:g} to w = {b['guidance']:g} the diversity goes from "
                           f"{a['diversity']:.2f} to {b['diversity']:.2f} (± {noise:.2f} for a difference; real digits: "
                           f"{diversity_real:.2f}) while the accuracy goes from {a['accuracy']:.1%} to "
                           f"{b['accuracy']:.1%}: {ending}", {"diversity": [a["diversity"], b["diversity"]]})


def attention_verdict(accuracy: dict, seconds: dict, n: int, steps: int, trained_level: float = 0.9,
                      fd: "dict | None" = None, fd_noise: float = 0.0) -> Verdict:
    """Does attention improve the digits at equal training steps? accuracy, seconds: {variant:
    share of n generated digits read as requested, training seconds}, the first variant without
    attention; fd, fd_noise: {variant: Fréchet distance to real digits} and the noise of a
    difference of two (e.g. twice the real-vs-real spread at n). A variant wins when it is more
    accurate beyond the noise of the difference (difference_noise) and not farther beyond fd_noise,
    or nearer beyond fd_noise and not less accurate beyond the noise; it loses the other way round.
    Supported if some attention variant wins; not supported if the plain U-Net is trained (>=
    trained_level) and every attention variant loses; cannot tell otherwise: when the differences
    are inside the noise (the text names the smallest gain n digits could have shown), when even
    the best variant is untrained, or when every variant is at the ceiling of accuracy (the lower
    end of its interval >= 0.99) and no distance says otherwise. numbers["decided"]: {variant: the
    measures that differ beyond their noise ("accuracy", "Fréchet distance", both, or "")}."""
    names = list(accuracy)
    base, a0 = names[0], accuracy[names[0]]
    parts, wins, losses, trades, noises, decided = [], [], [], [], [], {}
    for k in names[1:]:
        noise = difference_noise(accuracy[k], a0, n)
        noises.append(noise)
        d = differs(accuracy[k], a0, noise)
        near = 0 if fd is None else differs(fd[base], fd[k], fd_noise)            # +1: the variant is nearer
        (wins if (d > 0 and near >= 0) or (near > 0 and d >= 0) else
         losses if (d < 0 and near <= 0) or (near < 0 and d <= 0) else trades if d or near else []).append(k)
        decided[k] = " and ".join(m for m, x in (("accuracy", d), ("Fréchet distance", near)) if x)
        parts.append(f"{k} {accuracy[k]:.1%} ({100 * (accuracy[k] - a0):+.1f} points ± {100 * noise:.1f}"
                     + ("" if fd is None else f"; Fréchet {fd[k]:.1f} against {fd[base]:.1f} ± {fd_noise:.1f}")
                     + f", {seconds[k] / seconds[base]:.1f}x the training time)")
    best = max(accuracy.values())
    ceiling = all(at_ceiling(a, n, 0.99) for a in accuracy.values())
    trained = best >= trained_level
    status = (SUPPORTED if wins else NOT_SUPPORTED if trained and len(losses) == len(names) - 1
              else CANNOT_TELL)
    tied = trained and not ceiling and not wins and not losses and not trades
    text = (f"after {steps} training steps each, the U-Net without attention reads {a0:.1%} of {n} digits"
            + ("" if fd is None else f" at a Fréchet distance of {fd[base]:.1f}") + "; "
            + "; ".join(parts) + "."
            + (f" The best variant reads only {best:.0%} of its digits, so this compares undertrained models."
               if not trained else "")
            + (f" Every difference is inside its noise: a gain of more than about {100 * max(noises):.0f} points "
               f"would have shown at this n, a smaller one cannot be told from chance." if tied else "")
            + (f" {', '.join(trades)}: more accurate but farther from real digits, or the reverse (a trade, "
               "not a gain)." if trades else "")
            + (" Every variant is at the ceiling, where n digits cannot show a gain." if ceiling and not wins else "")
            + "".join(f" {k} {'wins' if k in wins else 'loses'} on its {decided[k]} alone; its "
                      f"{'Fréchet distance' if decided[k] == 'accuracy' else 'accuracy'} is within the noise."
                      for k in wins + losses if fd is not None and " and " not in decided[k]))
    return Verdict(status, text, {"wins": wins, "losses": losses, "trades": trades, "ceiling": ceiling,
                                  "decided": decided})


def colour_path_verdict(colour: dict, lit: dict, n: int, chance: float = 0.1) -> Verdict:
    """Does the 32x32 colour path learn the colour conditioning? colour: {sampler: share of discs of
    the requested colour}; lit: {sampler: share of lit pixels, ..., "real": the training discs'}.
    Supported when the best sampler's share is above chance beyond its Wilson interval."""
    best = max(colour, key=colour.get)
    lo, _ = wilson_interval(round(colour[best] * n), n)
    status = SUPPORTED if lo > chance else NOT_SUPPORTED
    text = (f"with {best.upper()} {colour[best]:.0%} of {n} generated discs have the requested colour "
            f"(95% interval from {lo:.0%}; chance {chance:.0%}); pixels lit: "
            + ", ".join(f"{k.upper()} {v:.0%}" for k, v in lit.items() if k != "real")
            + f", training discs {lit['real']:.0%}.")
    return Verdict(status, text, {"best": best, "lower": lo})


def resolution_verdict(small: tuple, large: tuple, step_ratio: float, names=("MNIST", "CIFAR-10")) -> Verdict:
    """Does the second dataset offer a higher resolution? small, large: image shapes (C, H, W);
    step_ratio: the measured training-step time of the same U-Net on large over small. Supported
    when its side is at least twice as long, partly when longer but less than twice (what the
    images add is then mostly elsewhere, e.g. colour), not supported when it is no longer."""
    (c0, h0, w0), (c1, h1, w1) = small, large
    side, pixels, values = h1 / h0, (h1 * w1) / (h0 * w0), (c1 * h1 * w1) / (c0 * h0 * w0)
    status = SUPPORTED if side >= 2 else PARTLY if side > 1 else NOT_SUPPORTED
    text = (f"{names[1]} images are {h1}x{w1} with {c1} channel{'s' * (c1 > 1)} against {names[0]}'s {h0}x{w0} "
            f"with {c0}: {side:.2f}x the side, {pixels:.2f}x the pixels and {values:.2f}x the values per image. "
            f"The same U-Net takes {step_ratio:.2f}x the time per training step on them."
            + (f" The resolution is barely higher; what {names[1]} adds is colour and photographs' content."
               if status == PARTLY and c1 > c0 else ""))
    return Verdict(status, text, {"side": side, "pixels": pixels, "values": values, "step_ratio": step_ratio})
