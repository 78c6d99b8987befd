import itertools
import math

import pytest
import torch

from dlbook import hardware

INTEL_AVX2 = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model name\t: Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz
cpu MHz\t\t: 3000.000
siblings\t: 12
cpu cores\t: 6
flags\t\t: fpu sse sse2 avx fma avx2

processor\t: 1
vendor_id\t: GenuineIntel
cpu MHz\t\t: 4000.000
"""

INTEL_AVX512 = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz
cpu MHz\t\t: 2500.000
siblings\t: 4
cpu cores\t: 4
flags\t\t: fpu sse2 avx fma avx2 avx512f avx512dq
"""

AMD_ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model name\t: AMD EPYC 9654
cpu MHz\t\t: 2400.000
siblings\t: 2
cpu cores\t: 2
flags\t\t: fpu sse2 avx fma avx2 avx512f
"""

ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32
CPU implementer\t: 0x41
"""



def test_matmul_gflops_is_positive_finite_and_grows_with_size():
    small = hardware.matmul_gflops(8, device="cpu", repeats=3)
    large = hardware.matmul_gflops(256, device="cpu", repeats=3)
    assert math.isfinite(small) and small > 0
    assert math.isfinite(large) and large > 0
    # an 8x8 product is all call overhead; a 256x256 one does 32768x the work in far less than 32768x the time
    assert large > 5 * small


def test_matmul_gflops_counts_two_n_cubed_flops_per_median_second(monkeypatch):
    clock = itertools.count()  # a fake clock: every timed run of products takes exactly one second
    monkeypatch.setattr(hardware.time, "perf_counter", lambda: float(next(clock)))
    n = 100
    assert hardware.matmul_gflops(n, device="cpu", repeats=3) == pytest.approx(2 * 100 * 100 * 100 / 1e9)


def test_matmul_gflops_runs_in_bfloat16():
    assert hardware.matmul_gflops(32, dtype=torch.bfloat16, device="cpu", repeats=2) > 0


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"n": 0}, ValueError),
        ({"n": 2.5}, ValueError),
        ({"n": 8, "repeats": 0}, ValueError),
        ({"n": 8, "dtype": torch.int64}, TypeError),
        ({"n": 8, "dtype": "float32"}, TypeError),
    ],
)
def test_matmul_gflops_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        hardware.matmul_gflops(**kwargs)


@pytest.mark.parametrize("name", ["tpu", "meta"])
def test_unknown_device_type_is_a_clear_error(name):
    for call in (lambda: hardware.matmul_gflops(8, device=name), lambda: hardware.peak_gflops(name)):
        with pytest.raises(ValueError, match="unknown device"):
            call()


def test_cpu_peak_avx2_counts_physical_cores_and_32_flops_per_cycle():
    # 4 logical CPUs at 2 threads per core = 2 cores; the largest clock in the text is 4.0 GHz
    assert hardware.cpu_peak_gflops(INTEL_AVX2, cpus=4) == pytest.approx(2 * 4.0 * 2 * 8 * 2)


def test_cpu_peak_avx512_is_64_flops_per_cycle():
    assert hardware.cpu_peak_gflops(INTEL_AVX512, cpus=4) == pytest.approx(4 * 2.5 * 2 * 16 * 2)
    assert hardware.cpu_peak_gflops(INTEL_AVX512, cpus=1, mhz=3900.0) == pytest.approx(3.9 * 64)


def test_cpu_peak_amd_zen4_runs_avx512_on_256_bit_units():
    assert hardware.cpu_peak_gflops(AMD_ZEN4, cpus=2) == pytest.approx(2 * 2.4 * 2 * 8 * 2)


def test_cpu_peak_falls_back_to_the_clock_in_the_model_name():
    text = INTEL_AVX512.replace("cpu MHz\t\t: 2500.000\n", "")
    assert hardware.cpu_peak_gflops(text, cpus=1) == pytest.approx(2.5 * 64)


@pytest.mark.parametrize(
    "text",
    [
        ARM,
        INTEL_AVX2.replace(" fma avx2", ""),  # no FMA: not estimated
        AMD_ZEN4.replace("cpu MHz\t\t: 2400.000\n", ""),  # no clock anywhere
        "",
    ],
)
def test_cpu_peak_is_none_when_it_cannot_tell(text):
    assert hardware.cpu_peak_gflops(text, cpus=2) is None


def test_cpu_peak_rejects_a_bad_cpu_count():
    with pytest.raises(ValueError, match="positive int"):
        hardware.cpu_peak_gflops(INTEL_AVX2, cpus=0)


@pytest.mark.parametrize(
    "name, dtype, tflops",
    [
        ("NVIDIA H100 80GB HBM3", torch.float32, 67.0),
        ("NVIDIA H100 80GB HBM3", torch.bfloat16, 989.0),
        ("NVIDIA H100 PCIe", torch.bfloat16, 756.0),
        ("NVIDIA H100 NVL", torch.float32, 60.0),
        ("NVIDIA H200", torch.bfloat16, 989.0),
        ("NVIDIA A100-SXM4-80GB", torch.float32, 19.5),
        ("NVIDIA L4", torch.bfloat16, 121.0),
        ("Tesla T4", torch.float32, 8.1),
    ],
)
def test_gpu_peak_matches_the_datasheet(name, dtype, tflops):
    assert hardware.gpu_peak_gflops(name, dtype) == pytest.approx(tflops * 1000)


@pytest.mark.parametrize(
    "name, dtype",
    [("Tesla T4", torch.bfloat16), ("NVIDIA L40S", torch.float32), ("NVIDIA H100", torch.float64), ("", torch.float32)],
)
def test_gpu_peak_is_none_for_unknown_gpus_and_dtypes(name, dtype):
    assert hardware.gpu_peak_gflops(name, dtype) is None


def test_peak_on_this_cpu_is_none_or_positive():
    peak = hardware.peak_gflops("cpu")
    assert peak is None or peak > 0
    assert hardware.peak_gflops("cpu", torch.bfloat16) is None


def test_describe_names_the_device_type():
    line = hardware.describe("cpu")
    assert "(cpu, " in line and "\n" not in line


def test_peak_and_describe_on_a_cuda_device_use_its_name(monkeypatch):
    # No GPU needed: pretend the best device is an H100 and check the CUDA branch end to end.
    class Props:
        name, total_memory = "NVIDIA H100 80GB HBM3", 80 * 2**30

    monkeypatch.setattr(hardware, "best_device", lambda name=None: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev=None: Props.name)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda dev=None: Props())
    assert hardware.peak_gflops("cuda", torch.bfloat16) == pytest.approx(989_000)
    assert hardware.describe("cuda") == "NVIDIA H100 80GB HBM3 (cuda, 80 GiB)"
    assert hardware.slug("cuda") == "nvidia-h100-80gb-hbm3"


def test_slug_of_the_cpu():
    assert hardware.slug("cpu") == "cpu"
