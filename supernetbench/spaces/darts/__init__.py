"""The DARTS cell space and the RobustDARTS spaces S1-S4 (protocol §8, §9).

``space`` (the spaces, genotype strings, prune rule, Stage-2 sampler), ``ops`` (candidate ops),
``supernet`` (the search network, with PC-DARTS partial channels), ``network`` (the evaluation
network ``NetworkCIFAR``, parameter and FLOP counts), ``projection`` (DARTS-PT's plan for
``perturb``). Import the submodules directly; this
package file imports nothing so that ``import supernetbench.spaces.darts`` stays cheap.
"""
