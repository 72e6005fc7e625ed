r"""The fused engine: DCell's forward and backward written out by hand over reused buffers.

What the autograd engine (``dcellx.nn.autograd_engine``) spends outside its matrix products goes
to moving states between layouts, to temporaries and to zero-filled gradients: per stratum a
fan-out gather, a concatenation, a gather into bucket order, an un-padding gather, an aux-head
product and an index-add, each with an allocating backward (``dcellx bench --profile``). Here
the states live in the slot layout of ``dcellx.nn.slots`` and every step works in place on
buffers kept across steps. Per stratum s with slots :math:`[a, b)`, buckets k:

* forward: :math:`X_s = H[\mathrm{in}_s]` (one gather); :math:`Z_k = W_k X_k` written by
  ``bmm`` into its slots; :math:`Z \mathrel{+}= b + \text{gene entries}`; the block
  (``tanh_``; BatchNorm as one per-row scale and shift, ``addcmul``) written into ``H[a:b]``;
  the stratum's auxiliary heads as one ``bmm`` per bucket, :math:`\hat y_k = v_k^\top O_k`.
* backward, strata in reverse: the heads' gradient (``baddbmm_`` into :math:`\partial H`), the
  block's (BatchNorm's backward in two passes from per-row constants, ``tanh_backward``), the
  parameter gradients, :math:`\partial X_k = W_k^\top \partial Z_k` and one reproducible
  scatter-add of :math:`\partial X_s` into :math:`\partial H` (``dcellx.nn.ops.add_at_``; its
  order fixed per plan, ``DCell.slot_index["in_plan"]``, without the zero row's entries).

With :math:`\hat x = (t - \mu)\, r`, :math:`r = (\sigma^2 + \epsilon)^{-1/2}`, BatchNorm's
backward per row is

.. math::
    \partial t = \gamma r\, \partial h - \frac{\gamma r}{B} \Big(\textstyle\sum_b \partial h
    + \hat x \sum_b \partial h\, \hat x\Big), \qquad
    \textstyle\sum_b \partial h\, \hat x
    = r \big(\sum_b \partial h\, t - \mu \sum_b \partial h\big),

so :math:`\partial t = c_1 \partial h + c_2 t + c_3` with per-row constants and no :math:`\hat x`
is ever stored. Supported: depth 1, norm ``batch``/``batch-frozen``/``none``, every block,
head, variant and gene layer; autograd runs otherwise (``dcellx.nn.engines``: layer norm, depth
> 1, a batch-statistics reducer, a ``trace``, autocast). Both are tested against the reference
loop (``tests/nn/test_equivalence.py``). Buffers belong to one forward until its backward ran
(or its graph was freed); a second forward before that gets its own, so interleaved forwards
stay correct. A backward runs once (``retain_graph`` is refused).
"""

from __future__ import annotations

import weakref
from typing import Protocol

import torch

from dcellx.batch import PerturbationBatch
from dcellx.nn.buffers import BufferPool
from dcellx.nn.config import ModelConfig
from dcellx.nn.norm import batch_stats_in_use, batch_stats_reduced
from dcellx.nn.ops import add_at_, section
from dcellx.nn.packed import PackedModel
from dcellx.nn.slots import SlotPlan


class FusedModel(PackedModel, Protocol):
    """What the fused engine reads of a ``DCell`` besides its packed parameters: mode,
    diagnostics switches, slot layout with its index tensors and working memory."""

    training: bool
    trace: list | None
    keep_states: bool
    last_states: torch.Tensor | None
    slot_plan: SlotPlan
    slot_buffers: BufferPool

    @property
    def slot_index(self) -> dict: ...


def fused_supports(cfg: ModelConfig) -> str | None:
    """``None`` when the fused engine computes ``cfg``, else what it lacks (module docstring)."""
    if cfg.depth != 1:
        return f"depth {cfg.depth}"
    if cfg.norm == "layer":
        return "norm 'layer'"
    return None


def fused_obstacle(model: FusedModel) -> str | None:
    """Why the fused engine cannot run ``model``'s next forward, or ``None``: its configuration
    or a state of the process (a ``trace``, a batch-statistics reducer, autocast: engines)."""
    if model.trace is not None:
        return "a trace"
    dev = model.bias.device.type
    if torch.amp.is_autocast_available(dev) and torch.is_autocast_enabled(dev):
        return "autocast"
    if model.cfg.norm != "none" and batch_stats_reduced():
        return "batch statistics reduced across processes"
    return fused_supports(model.cfg)


def fused_forward(model: FusedModel, batch: PerturbationBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """``model``'s forward on the fused engine: (root [B], aux [B, T-1])."""
    B = batch.size
    with section("genes"):
        gene_out = model.genes(batch)
    lua = model.cfg.gene_layer != "direct"
    extra, g = (gene_out, None) if lua else (None, gene_out)
    genes, base, value = None, None, None
    if g is not None:
        base = g.base
        if len(g.neuron):
            son = model.slot_index["slot_of_neuron"]
            genes = (son.index_select(0, g.neuron) * B + g.sample, g.ptr)
            value = g.value
    # a backward may follow: this forward's buffers stay its own until then
    keep = torch.is_grad_enabled() and model.bias.requires_grad
    buf = model.slot_buffers.take(model.slot_plan, B, model.bias, keep)
    params = (model.norm_weight, model.norm_bias, model.aux_weight, model.aux_bias)
    params += (model.head_weight, model.head_bias, *model.weights)
    root, aux = FusedDCell.apply(
        model, buf, genes, extra, base, value, model.bias, model.root_const, *params
    )
    if model.training:
        model.norm_steps += 1
    return root, aux.t()


def _batch_norm(Z, out, st, buf, gamma, beta, model: FusedModel, son, B: int) -> None:
    """BatchNorm with batch statistics of one stratum's rows Z into ``out``, two-pass: the mean,
    then the variance of the centred rows (``torch.var_mean`` along rows is ~5x slower here)."""
    a, b = st.slots
    n = b - a
    mean = Z.mean(1)
    torch.sub(Z, mean.unsqueeze(1), out=out)
    var = torch.bmm(out.view(n, 1, B), out.view(n, B, 1)).view(n) / B
    buf.mu[a:b] = mean
    torch.rsqrt(var + model.cfg.bn_eps, out=buf.rstd[a:b])
    scale = gamma[a:b] * buf.rstd[a:b]
    torch.addcmul(beta[a:b].unsqueeze(1), out, scale.unsqueeze(1), out=out)
    _update_running_stats(model, st, mean, var, son, B)


def _update_running_stats(model: FusedModel, st, mean, var, son, B: int) -> None:
    """torch's BatchNorm update of the running statistics (unbiased); ``son``: neuron -> slot."""
    m = model.cfg.bn_momentum
    n0, n1 = st.neurons
    local = son[n0:n1] - st.slots[0]
    model.running_mean[0, n0:n1].mul_(1 - m).add_(mean.index_select(0, local), alpha=m)
    unbiased = var.index_select(0, local) * (B / (B - 1))
    model.running_var[0, n0:n1].mul_(1 - m).add_(unbiased, alpha=m)


def _to_slots(v: torch.Tensor, neuron_of_slot: torch.Tensor) -> torch.Tensor:
    """A per-neuron vector [N] in slot order [slots], 0 in padding slots."""
    return torch.cat([v, v.new_zeros(1)]).index_select(0, neuron_of_slot)


class FusedDCell(torch.autograd.Function):
    """``apply(model, buf, genes, extra, base, value, bias, root_const, norm_w, norm_b, aux_w,
    aux_b, head_w, head_b, *weights)`` -> (root [B], aux [T-1, B]); ``genes`` is
    (flat slot index slot * B + sample of each gene entry, per-stratum pointer) or None."""

    @staticmethod
    def forward(ctx, model, buf, genes, extra, base, value, bias, root_const, *params):
        norm_w, norm_b, aux_w, aux_b, head_w, head_b, *weights = params
        cfg, plan, idx = model.cfg, model.slot_plan, model.slot_index
        B, keep = buf.key
        H, P, X, A = buf.H, buf.P, buf.X, buf.A
        nos = idx["neuron_of_slot"]
        bias_slot = _to_slots(bias if base is None else bias + base, nos)
        ra, rb = plan.root_slots
        if root_const.numel():
            bias_slot[ra:rb] += root_const
        is_batch = cfg.norm in ("batch", "batch-frozen")
        use_batch = is_batch and batch_stats_in_use(cfg, model.training, model.norm_steps)
        if use_batch and B == 1:
            raise ValueError("Expected more than 1 value per channel when training")
        if is_batch:
            gamma, beta = _to_slots(norm_w[0], nos), _to_slots(norm_b[0], nos)
            if not use_batch:
                buf.mu.copy_(_to_slots(model.running_mean[0], nos))
                buf.rstd.copy_(_to_slots(model.running_var[0], nos).add_(cfg.bn_eps).rsqrt_())
        aw = _to_slots(aux_w, nos)
        ab = aux_b.index_select(0, idx["aux_terms"]).unsqueeze(1)
        if extra is not None:
            H[plan.num_slots : plan.zero_row].copy_(extra)
        pre_aux, state_first = cfg.aux_input == "pre-norm", cfg.block == "linear-tanh-norm"
        x0 = 0
        for s, st in enumerate(plan.strata):
            a, b = st.slots
            Z, Hs = P[a:b], H[a:b]
            m = len(st.in_rows)
            Xs = X[x0 : x0 + m] if keep else X[:m]
            x0 += m if keep else 0
            if st.reads_states:
                with section("gather"):
                    torch.index_select(H, 0, idx["in_rows"][s], out=Xs)
                with section("matmul"):
                    for bk in st.buckets:
                        torch.bmm(weights[bk.weight], _rows(Xs, bk.inp, bk.terms, bk.fan_pad, B),
                                  out=_rows(Z, bk.slot, bk.terms, bk.out_pad, B))  # fmt: skip
            else:  # leaves: nothing below them, W_t I(t) is the gene part only
                Z.zero_()
            with section("bias+genes"):
                Z += bias_slot[a:b].unsqueeze(1)
                if genes is not None and genes[1][s + 1] > genes[1][s]:
                    lo, hi = genes[1][s], genes[1][s + 1]
                    add_at_(Z.view(-1), genes[0][lo:hi] - a * B, value[lo:hi])
            if state_first:
                with section("tanh"):
                    Z.tanh_()
            with section("norm"):
                if use_batch:
                    _batch_norm(Z, Hs, st, buf, gamma, beta, model, idx["slot_of_neuron"], B)
                elif is_batch:  # running statistics: one affine map per row
                    _normalise(Z, st, buf, gamma, beta, Hs)
                else:
                    Hs.copy_(Z)
            heads = st.aux[1] > st.aux[0]
            if heads and pre_aux:  # heads on tanh(z) resp. Norm(z)
                with section("aux heads"):
                    _heads(st, Z if state_first else Hs, aw, A, B)
            if not state_first:
                with section("tanh"):
                    Hs.tanh_()
            if heads:
                with section("aux heads"):
                    if not pre_aux:
                        _heads(st, Hs, aw, A, B)
                    c0, c1 = st.aux
                    A[c0:c1] += ab[c0:c1]
                    if cfg.aux_head == "tanh-linear":
                        A[c0:c1].tanh_()
        root = torch.mv(H[ra:rb].t(), head_w) + head_b
        aux = A.index_select(0, idx["aux_row_of_term"])
        if model.keep_states:
            model.last_states = H.index_select(0, idx["slot_of_neuron"])
        ctx.model, ctx.buf, ctx.genes = model, buf, genes
        ctx.slot = (gamma, beta) if is_batch else (None, None)
        ctx.aw, ctx.use_batch, ctx.is_batch = aw, use_batch, is_batch
        ctx.has = (extra is not None, base is not None, value is not None)
        ctx.save_for_backward(head_w, *weights)
        ctx.shapes = (root_const.shape, norm_w.shape, aux_b.shape)
        if keep:
            buf.owner = weakref.ref(ctx)
        return root, aux

    @staticmethod
    def backward(ctx, d_root, d_aux):
        model, buf, genes = ctx.model, ctx.buf, ctx.genes
        if buf.owner is None or buf.owner() is not ctx:
            raise RuntimeError("the fused DCell engine runs one backward per forward")
        head_w, *weights = ctx.saved_tensors
        cfg, plan, idx = model.cfg, model.slot_plan, model.slot_index
        B = buf.key[0]
        H, P, X, A = buf.H, buf.P, buf.X, buf.A
        G, D, E, dX = buf.grad_space()
        aw, is_batch = ctx.aw, ctx.is_batch
        pre_aux, state_first = cfg.aux_input == "pre-norm", cfg.block == "linear-tanh-norm"
        with section("gather"):
            G.zero_()
        with section("aux heads"):
            dA = d_aux.index_select(0, idx["aux_terms"])  # bucket order, like A
            if cfg.aux_head == "tanh-linear":
                dA = torch.ops.aten.tanh_backward(dA, A)
        ra, rb = plan.root_slots
        with section("root head"):
            G[ra:rb].addr_(head_w, d_root)
            d_head_w = torch.mv(H[ra:rb], d_root)
        n_slots = plan.num_slots
        d_bias = H.new_empty(n_slots)
        d_gamma, d_beta, d_aw = (H.new_zeros(n_slots) for _ in range(3))
        d_value = H.new_empty(genes[0].shape) if ctx.has[2] else None
        d_w: list[torch.Tensor | None] = [None] * len(weights)
        tanh_bwd = torch.ops.aten.tanh_backward.grad_input
        x0 = plan.num_inputs
        for s in range(len(plan.strata) - 1, -1, -1):
            st = plan.strata[s]
            a, b = st.slots
            n, m = b - a, len(st.in_rows)
            x0 -= m
            Z, Hs, dh = P[a:b], H[a:b], G[a:b]
            heads = st.aux[1] > st.aux[0]
            if heads:
                with section("aux heads"):
                    if not pre_aux:
                        src = Hs
                    elif state_first or not is_batch:
                        src = Z  # tanh(z), or z itself without a norm
                    else:  # Norm(z), recomputed from z
                        src = _normalise(Z, st, buf, *ctx.slot, E[:n])
                    target = D[:n] if pre_aux else dh
                    _heads_backward(st, src, aw, dA, target, d_aw, B, pre_aux)
            if state_first:  # h = Norm(t), t = tanh(z)
                with section("norm"):
                    dt = dh
                    if is_batch:
                        dt = _norm_backward(dh, Z, st, ctx, E[:n], d_gamma, d_beta, B)
                    if heads and pre_aux:
                        dt.add_(D[:n])
                with section("tanh"):
                    dz = tanh_bwd(dt, Z, grad_input=D[:n])
            else:  # h = tanh(n), n = Norm(z)
                with section("tanh"):
                    dn = tanh_bwd(dh, Hs, grad_input=E[:n])
                    if heads and pre_aux:
                        dn.add_(D[:n])
                with section("norm"):
                    dz = dn
                    if is_batch:
                        dz = _norm_backward(dn, Z, st, ctx, D[:n], d_gamma, d_beta, B)
            with section("bias+genes"):
                torch.sum(dz, 1, out=d_bias[a:b])
                if d_value is not None and genes[1][s + 1] > genes[1][s]:
                    lo, hi = genes[1][s], genes[1][s + 1]
                    flat = genes[0][lo:hi] - a * B
                    torch.index_select(dz.reshape(-1), 0, flat, out=d_value[lo:hi])
            if not st.reads_states:
                for bk in st.buckets:
                    d_w[bk.weight] = torch.zeros_like(weights[bk.weight])
                continue
            with section("matmul"):
                Xs = X[x0 : x0 + m]
                for bk in st.buckets:
                    dz_k = _rows(dz, bk.slot, bk.terms, bk.out_pad, B)
                    X_k = _rows(Xs, bk.inp, bk.terms, bk.fan_pad, B)
                    d_w[bk.weight] = torch.bmm(dz_k, X_k.transpose(1, 2))
                    w_t = weights[bk.weight].transpose(1, 2)
                    torch.bmm(w_t, dz_k, out=_rows(dX, bk.inp, bk.terms, bk.fan_pad, B))
            with section("gather"):
                add_at_(G, idx["in_rows"][s], dX[:m], idx["in_plan"][s])
        buf.owner = None  # the buffers are free for the next forward
        son = idx["slot_of_neuron"]
        g_bias = d_bias.index_select(0, son)
        rc_shape, nw_shape, ab_shape = ctx.shapes
        # an empty parameter (no constant-one input, no norm) gets no gradient, as on autograd
        g_rc = d_bias[ra:rb].clone() if rc_shape.numel() else None
        g_nw = g_nb = None
        if is_batch:
            g_nw, g_nb = d_bias.new_zeros(nw_shape), d_bias.new_zeros(nw_shape)
            g_nw[0], g_nb[0] = d_gamma.index_select(0, son), d_beta.index_select(0, son)
        g_ab = d_bias.new_zeros(ab_shape).index_copy_(0, idx["aux_terms"], dA.sum(1))
        g_extra = G[n_slots : plan.zero_row].clone() if ctx.has[0] else None
        g_base = g_bias.clone() if ctx.has[1] else None
        return (
            None, None, None, g_extra, g_base, d_value, g_bias, g_rc,
            g_nw, g_nb, d_aw.index_select(0, son), g_ab, d_head_w, d_root.sum().view(1), *d_w,
        )  # fmt: skip


def _rows(t: torch.Tensor, start: int, terms: int, width: int, B: int) -> torch.Tensor:
    """Rows start .. start + terms * width of ``t`` [rows, B] as [terms, width, B]."""
    return t[start : start + terms * width].view(terms, width, B)


def _normalise(x: torch.Tensor, st, buf, gamma, beta, out: torch.Tensor) -> torch.Tensor:
    """BatchNorm of one stratum's rows with the statistics in ``buf`` (running ones, or the
    forward's batch ones), as one affine map per row, into ``out``."""
    a, b = st.slots
    scale = gamma[a:b] * buf.rstd[a:b]
    shift = beta[a:b] - buf.mu[a:b] * scale
    return torch.addcmul(shift.unsqueeze(1), x, scale.unsqueeze(1), out=out)


def _heads(st, src: torch.Tensor, aw: torch.Tensor, A: torch.Tensor, B: int) -> None:
    """The stratum's auxiliary heads, one ``bmm`` per bucket: A[c] = v_t^T src_t."""
    a, c = st.slots[0], st.aux[0]
    for bk in st.buckets:
        T, op, lo = bk.terms, bk.out_pad, bk.slot
        v = aw[a + lo : a + lo + T * op].view(T, 1, op)
        torch.bmm(v, src[lo : lo + T * op].view(T, op, B), out=A[c : c + T].view(T, 1, B))
        c += T


def _heads_backward(st, src, aw, dA, target, d_aw, B: int, write: bool) -> None:
    """Gradients of the heads: into the state (``target`` += v_t dA_t, or written when
    ``write``) and into the head weights (d_aw = dA_t src_t^T)."""
    a, c = st.slots[0], st.aux[0]
    for bk in st.buckets:
        T, op, lo = bk.terms, bk.out_pad, bk.slot
        vt = aw[a + lo : a + lo + T * op].view(T, op, 1)
        dA_k = dA[c : c + T].view(T, 1, B)
        tk = target[lo : lo + T * op].view(T, op, B)
        if write:
            torch.bmm(vt, dA_k, out=tk)
        else:
            tk.baddbmm_(vt, dA_k)
        s_k = src[lo : lo + T * op].view(T, op, B)
        torch.bmm(dA_k, s_k.transpose(1, 2), out=d_aw[a + lo : a + lo + T * op].view(T, 1, op))
        c += T


def _norm_backward(dh, x, st, ctx, out, d_gamma, d_beta, B: int) -> torch.Tensor:
    """BatchNorm's backward for the rows of one stratum (module docstring): ``out`` = dL/dx,
    and the gain and shift gradients of its slots."""
    a, b = st.slots
    buf = ctx.buf
    mu, r, gam = buf.mu[a:b], buf.rstd[a:b], ctx.slot[0][a:b]
    n = b - a
    g1 = dh.sum(1)
    g2 = torch.bmm(dh.view(n, 1, B), x.view(n, B, 1)).view(n)  # sum_b dh * x, per row
    dg = r * (g2 - mu * g1)
    d_gamma[a:b], d_beta[a:b] = dg, g1
    c1 = gam * r
    if not ctx.use_batch:  # running statistics: the normalisation is a constant affine map
        return torch.mul(dh, c1.unsqueeze(1), out=out)
    k = c1 * r * dg / B
    c3 = k * mu - c1 * g1 / B
    torch.addcmul(c3.unsqueeze(1), x, (-k).unsqueeze(1), out=out)
    return out.addcmul_(dh, c1.unsqueeze(1))
