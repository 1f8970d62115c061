//! System samples: host and process-tree CPU and memory (sysinfo), GPU utilisation and
//! memory (NVML). Without an NVIDIA library the GPU figures are unavailable, never zero.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

/// One GPU at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GpuSample {
    /// Device index.
    pub index: u32,
    /// Streaming-multiprocessor utilisation, percent (the driver's recent window).
    pub sm_util_pct: f64,
    /// Memory-controller utilisation, percent.
    pub mem_util_pct: f64,
    /// Device memory in use, bytes.
    pub mem_used_bytes: u64,
}

/// The host (and the job's process tree) at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemSample {
    /// UTC wall-clock time, Unix seconds.
    pub t: f64,
    /// Host CPU use over all cores, percent.
    #[serde(default)]
    pub host_cpu_pct: Option<f64>,
    /// CPU use of the job's process tree, percent of the whole host.
    #[serde(default)]
    pub job_cpu_pct: Option<f64>,
    /// Resident memory of the job's process tree, bytes.
    #[serde(default)]
    pub job_rss_bytes: Option<u64>,
    /// Host memory in use, bytes.
    #[serde(default)]
    pub host_mem_used_bytes: Option<u64>,
    /// Host memory in all, bytes.
    #[serde(default)]
    pub host_mem_total_bytes: Option<u64>,
    /// One entry per GPU (empty when unavailable).
    #[serde(default)]
    pub gpus: Vec<GpuSample>,
    /// Why there are no GPU figures, when there are none.
    #[serde(default)]
    pub gpu_unavailable: Option<String>,
}

/// Takes samples. CPU percentages need two refreshes; the first sample after creation
/// reports CPU as unavailable.
pub struct Sampler {
    system: Option<System>,
    system_error: Option<String>,
    nvml: Result<nvml_wrapper::Nvml, String>,
    primed: bool,
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Sampler {
    /// A sampler; looks for NVML once (a missing library costs under a millisecond).
    pub fn new() -> Self {
        let (system, system_error) = match System::new() {
            Ok(system) => (Some(system), None),
            Err(err) => (None, Some(err.to_string())),
        };
        let nvml = nvml_wrapper::Nvml::init().map_err(|err| match err {
            nvml_wrapper::error::NvmlError::LibloadingError(_) => {
                "no NVIDIA driver library (libnvidia-ml.so.1) on this host".to_owned()
            }
            other => format!("NVML could not start: {other}"),
        });
        Self {
            system,
            system_error,
            nvml,
            primed: false,
        }
    }

    /// Samples the host and, if given, the process tree rooted at `root`.
    pub fn sample(&mut self, root: Option<u32>) -> SystemSample {
        let mut sample = SystemSample {
            t: jiff::Timestamp::now().as_millisecond() as f64 / 1000.0,
            ..SystemSample::default()
        };
        if let Some(system) = self.system.as_mut() {
            system.refresh_cpu_usage();
            system.refresh_memory();
            system.refresh_processes_specifics(
                ProcessesToUpdate::All,
                true,
                ProcessRefreshKind::nothing()
                    .with_cpu()
                    .with_memory()
                    .with_exe(UpdateKind::Never),
            );
            let cores = system.cpus().len().max(1) as f64;
            if self.primed {
                sample.host_cpu_pct = Some(f64::from(system.global_cpu_usage()));
            }
            sample.host_mem_used_bytes = Some(system.used_memory());
            sample.host_mem_total_bytes = Some(system.total_memory());
            if let Some(root) = root {
                let tree = process_tree(system, Pid::from_u32(root));
                if !tree.is_empty() {
                    let processes = system.processes();
                    let cpu: f64 = tree
                        .iter()
                        .filter_map(|p| processes.get(p))
                        .map(|p| f64::from(p.cpu_usage()))
                        .sum();
                    let rss: u64 = tree
                        .iter()
                        .filter_map(|p| processes.get(p))
                        .map(|p| p.memory())
                        .sum();
                    if self.primed {
                        sample.job_cpu_pct = Some(cpu / cores);
                    }
                    sample.job_rss_bytes = Some(rss);
                }
            }
            self.primed = true;
        } else if let Some(err) = &self.system_error {
            tracing::debug!(%err, "no system figures");
        }
        match &self.nvml {
            Ok(nvml) => match gpu_samples(nvml) {
                Ok(gpus) => sample.gpus = gpus,
                Err(err) => sample.gpu_unavailable = Some(err),
            },
            Err(reason) => sample.gpu_unavailable = Some(reason.clone()),
        }
        sample
    }
}

fn process_tree(system: &System, root: Pid) -> Vec<Pid> {
    let processes = system.processes();
    if !processes.contains_key(&root) {
        return Vec::new();
    }
    let mut tree = vec![root];
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, process) in processes {
            // Threads show up as processes whose parent is their process; skip them.
            if process.parent() == Some(parent)
                && process.thread_kind().is_none()
                && !tree.contains(pid)
            {
                tree.push(*pid);
                frontier.push(*pid);
            }
        }
    }
    tree
}

fn gpu_samples(nvml: &nvml_wrapper::Nvml) -> Result<Vec<GpuSample>, String> {
    let count = nvml
        .device_count()
        .map_err(|err| format!("NVML device count: {err}"))?;
    let mut gpus = Vec::new();
    for index in 0..count {
        let device = nvml
            .device_by_index(index)
            .map_err(|err| format!("NVML device {index}: {err}"))?;
        let util = device
            .utilization_rates()
            .map_err(|err| format!("NVML utilisation of device {index}: {err}"))?;
        let memory = device
            .memory_info()
            .map_err(|err| format!("NVML memory of device {index}: {err}"))?;
        gpus.push(GpuSample {
            index,
            sm_util_pct: f64::from(util.gpu),
            mem_util_pct: f64::from(util.memory),
            mem_used_bytes: memory.used,
        });
    }
    Ok(gpus)
}

/// A background thread writing samples of a process tree to a JSON-lines file.
pub struct SamplerThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl SamplerThread {
    /// Samples the tree rooted at `pid` every `interval` into `path` (appending), until
    /// stopped or the process is gone.
    pub fn start(pid: u32, interval: Duration, path: &Path) -> std::io::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("system-sampler".to_owned())
            .spawn(move || {
                let mut sampler = Sampler::new();
                sampler.sample(Some(pid)); // primes CPU counters
                while !flag.load(Ordering::Relaxed) {
                    sleep_unless_stopped(interval, &flag);
                    let sample = sampler.sample(Some(pid));
                    let gone = sample.job_rss_bytes.is_none();
                    if let Ok(line) = serde_json::to_string(&sample) {
                        let _ = writeln!(file, "{line}");
                    }
                    if gone {
                        break;
                    }
                }
            })?;
        Ok(Self {
            stop,
            handle: Some(handle),
            path: path.to_owned(),
        })
    }

    /// Stops sampling and waits for the thread; returns the file's path.
    pub fn stop(mut self) -> PathBuf {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        self.path.clone()
    }
}

impl Drop for SamplerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn sleep_unless_stopped(interval: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(20);
    let mut slept = Duration::ZERO;
    while slept < interval && !stop.load(Ordering::Relaxed) {
        let nap = step.min(interval - slept);
        std::thread::sleep(nap);
        slept += nap;
    }
}

/// Reads a `system.jsonl` file; lines that do not parse are skipped.
pub fn read_samples(path: &Path) -> std::io::Result<Vec<SystemSample>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}
