//! The adapters wgpu sees: what `hashrig devices` shows of each, and which a `--gpu` selector
//! picks.

use super::GpuError;

/// What `hashrig devices` shows of an adapter.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeviceInfo {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12;
    wgpu::Instance::new(desc)
}

pub(super) fn info(index: usize, adapter: &wgpu::Adapter) -> DeviceInfo {
    let i = adapter.get_info();
    DeviceInfo {
        index,
        name: i.name,
        backend: format!("{:?}", i.backend),
        device_type: format!("{:?}", i.device_type),
        driver: format!("{} {}", i.driver, i.driver_info).trim().to_string(),
    }
}

pub(super) fn adapters() -> Vec<wgpu::Adapter> {
    pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()))
}

/// Every GPU adapter wgpu can see, in enumeration order (the index `--gpu` takes).
pub fn devices() -> Vec<DeviceInfo> {
    adapters()
        .iter()
        .enumerate()
        .map(|(i, a)| info(i, a))
        .collect()
}

/// The adapters (indexes into `names`, in order, once each) a `--gpu` selector picks: a
/// comma-separated list of indexes (`0,2`), parts of names (`h200`), or `all`. Each item
/// must pick at least one adapter; the error names the item that picks none.
pub fn select(selector: &str, names: &[String]) -> Result<Vec<usize>, GpuError> {
    let mut picked = vec![false; names.len()];
    for item in selector.split(',').map(str::trim) {
        let wanted = item.to_ascii_lowercase();
        let mut any = false;
        for (i, name) in names.iter().enumerate() {
            let hit = wanted == "all"
                || wanted.parse::<usize>().ok() == Some(i)
                || (wanted.parse::<usize>().is_err()
                    && !wanted.is_empty()
                    && name.to_ascii_lowercase().contains(&wanted));
            if hit {
                picked[i] = true;
                any = true;
            }
        }
        if !any {
            return Err(GpuError::NoSuchDevice(item.to_string()));
        }
    }
    Ok((0..names.len()).filter(|&i| picked[i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_selectors_take_lists_names_and_all() {
        let names: Vec<String> = ["NVIDIA H200", "NVIDIA H200", "llvmpipe (LLVM 15)"]
            .map(String::from)
            .to_vec();
        assert_eq!(select("0,2", &names).ok(), Some(vec![0, 2]));
        assert_eq!(select("2, 0,0", &names).ok(), Some(vec![0, 2]));
        assert_eq!(select("h200", &names).ok(), Some(vec![0, 1]));
        assert_eq!(select("all", &names).ok(), Some(vec![0, 1, 2]));
        assert_eq!(select("1,llvm", &names).ok(), Some(vec![1, 2]));
        assert!(matches!(select("0,5", &names), Err(GpuError::NoSuchDevice(i)) if i == "5"));
        assert!(matches!(select("0,", &names), Err(GpuError::NoSuchDevice(i)) if i.is_empty()));
        assert!(matches!(select("amd", &names), Err(GpuError::NoSuchDevice(i)) if i == "amd"));
    }
}
