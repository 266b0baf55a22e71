"""The round settings' command-line flags, shared by `start-round` and `run`; defaults come from
RoundSettings (coordinator/round_config.py), the one source of round defaults."""
from __future__ import annotations

from coordinator.round_config import WEIGHTINGS, RoundSettings
from fedads.v1 import admin_pb2 as pb

D = RoundSettings()


def add_round_flags(s) -> None:
    s.add_argument("--sites", type=int, default=D.sites, help="number of sites to select (0: all online)")
    s.add_argument("--fraction", type=float, default=D.fraction, help="fraction of online sites to select (0: unused)")
    s.add_argument("--min-sites", type=int, default=D.min_sites, help="quorum: fewer surviving sites fail the round")
    s.add_argument("--epochs", type=int, default=D.epochs, help="local epochs per site")
    s.add_argument("--local-steps", type=int, default=D.local_steps,
                   help="at most this many local minibatch steps per site (0: all of --epochs)")
    s.add_argument("--lr", type=float, default=D.learning_rate, help="local learning rate")
    s.add_argument("--batch-size", type=int, default=D.batch_size, help="local minibatch size")
    s.add_argument("--prox-mu", type=float, default=D.prox_mu, help="FedProx proximal weight")
    s.add_argument("--negatives", type=int, default=D.negatives, help="sampled negatives per training target")
    s.add_argument("--seed", type=int, default=D.seed, help="seed of site selection and local sampling")
    s.add_argument("--deadline-s", type=float, default=D.train_deadline_s, help="deadline of the training stage")
    s.add_argument("--stage-deadline-s", type=float, default=D.stage_deadline_s,
                   help="deadline of each secure-aggregation key stage and of unmasking")
    s.add_argument("--eval-deadline-s", type=float, default=D.eval_deadline_s, help="deadline of the evaluation stage")
    s.add_argument("--weighting", default=D.weighting, choices=list(WEIGHTINGS),
                   help="aggregation weights: samples n_i; noise n_i/σ_i²; interest n_i·exp(β·cos(u_i, ū))")
    s.add_argument("--interest-beta", type=float, default=D.interest_beta, help="β of interest weighting")
    s.add_argument("--personalise-epochs", type=int, default=D.personalise_epochs,
                   help="sites fine-tune the new model this many epochs on their data before evaluating it")
    s.add_argument("--plain-aggregation", action="store_true",
                   help="debug only: skip secure aggregation, so the aggregator sees each site's update")
    s.add_argument("--secagg-clip", type=float, default=D.secagg_clip,
                   help="fixed-point range of each update element under secure aggregation")
    s.add_argument("--server-lr", type=float, default=D.server_learning_rate,
                   help="global step η: new model = old + η·(weighted mean of the sites' deltas); 1 is FedAvg")
    s.add_argument("--server-momentum", type=float, default=D.server_momentum,
                   help="server momentum β (FedAvgM): the global step also moves β·(old − old's parent); 0: none")
    s.add_argument("--private-lr-scale", type=float, default=D.private_lr_scale,
                   help="learning rate of each site's private parameters as a multiple of --lr")
    s.add_argument("--distill-weight", type=float, default=D.distill_weight,
                   help="λ of the sites' distillation of ad semantics into rarely seen ads' id embeddings "
                        "(needs a model with use_semantics; 0: off)")
    s.add_argument("--accept-noise", action="store_true",
                   help="start even if the sites' DP noise would swamp the average (warned and recorded in the "
                        "audit log); without it such a round is refused")


def round_config(args) -> pb.RoundConfig:
    return pb.RoundConfig(sites=args.sites, fraction=args.fraction, min_sites=args.min_sites, epochs=args.epochs,
                          learning_rate=args.lr, batch_size=args.batch_size, prox_mu=args.prox_mu,
                          negatives=args.negatives, seed=args.seed, train_deadline_s=args.deadline_s,
                          eval_deadline_s=args.eval_deadline_s, weighting=args.weighting,
                          plain_aggregation=args.plain_aggregation, secagg_clip=args.secagg_clip,
                          interest_beta=args.interest_beta, personalise_epochs=args.personalise_epochs,
                          stage_deadline_s=args.stage_deadline_s, server_learning_rate=args.server_lr,
                          private_lr_scale=args.private_lr_scale, server_momentum=args.server_momentum,
                          local_steps=args.local_steps, accept_noise=args.accept_noise,
                          distill_weight=args.distill_weight)
