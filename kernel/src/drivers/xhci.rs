//! xHCI USB host controllers and the USB HID boot keyboards on their root
//! ports.
//!
//! Bring-up: BIOS-to-OS hand-off (USB legacy support capability), halt and
//! reset, device-context array (with scratchpad buffers), command ring,
//! one event ring on interrupter 0, run. Then, for every connected root
//! port: port reset (USB 2), Enable Slot, Address Device, the device and
//! configuration descriptors over EP0, and for a boot-protocol keyboard
//! (interface class 3/1/1): Set Configuration, Set Protocol (boot), and a
//! Configure Endpoint for its interrupt-IN endpoint, on which 8-byte
//! reports are kept queued.
//!
//! Reports are collected by [`poll`] (the console calls it while it waits
//! for input and when it checks for Ctrl-C); `klib::keyboard` turns them
//! into key events and bytes for the console's key queue. Hubs, other
//! devices and hot-plugging after boot are not handled.

use crate::console::input;
use crate::drivers::pci::{self, Bar, Device};
use crate::mm::{self, frame, paging};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use klib::keyboard::{hid_report_events, KeyDecoder};
use spin::Mutex;
use x86_64::PhysAddr;

const TRB_NORMAL: u32 = 1;
const TRB_SETUP: u32 = 2;
const TRB_DATA: u32 = 3;
const TRB_STATUS: u32 = 4;
const TRB_LINK: u32 = 6;
const TRB_ENABLE_SLOT: u32 = 9;
const TRB_ADDRESS_DEVICE: u32 = 11;
const TRB_CONFIGURE_ENDPOINT: u32 = 12;
const TRB_TRANSFER_EVENT: u32 = 32;
const TRB_COMMAND_COMPLETION: u32 = 33;

const CC_SUCCESS: u32 = 1;
const CC_SHORT_PACKET: u32 = 13;

const RING_TRBS: usize = 256;

/// A page of DMA memory: physical address and its direct-map pointer.
#[derive(Clone, Copy)]
struct Page {
    phys: u64,
    virt: *mut u8,
}

// SAFETY: pages are plain memory owned by the driver, used under its lock.
unsafe impl Send for Page {}

impl Page {
    fn new() -> Result<Page, &'static str> {
        let phys = frame::alloc_contiguous(1, mm::PAGE_SIZE).ok_or("no memory for xHCI")?;
        let virt = paging::phys_to_virt(phys).as_mut_ptr::<u8>();
        // SAFETY: a fresh frame, mapped in the direct map, owned by us.
        unsafe { core::ptr::write_bytes(virt, 0, mm::PAGE_SIZE as usize) };
        Ok(Page {
            phys: phys.as_u64(),
            virt,
        })
    }

    fn write32(&self, offset: usize, v: u32) {
        // SAFETY: offset within the page (callers stay below 4096).
        unsafe { (self.virt.add(offset) as *mut u32).write_volatile(v) }
    }

    fn read32(&self, offset: usize) -> u32 {
        // SAFETY: as in write32.
        unsafe { (self.virt.add(offset) as *const u32).read_volatile() }
    }

    fn write64(&self, offset: usize, v: u64) {
        self.write32(offset, v as u32);
        self.write32(offset + 4, (v >> 32) as u32);
    }

    fn bytes(&self, len: usize) -> Vec<u8> {
        (0..len.min(4096))
            .map(|i| {
                // SAFETY: within the page.
                unsafe { self.virt.add(i).read_volatile() }
            })
            .collect()
    }
}

/// A producer ring (command or transfer): 255 TRBs and a link back.
struct Ring {
    page: Page,
    index: usize,
    cycle: u32,
}

impl Ring {
    fn new() -> Result<Ring, &'static str> {
        let page = Page::new()?;
        // The link TRB at the end, toggling the cycle.
        let link = (RING_TRBS - 1) * 16;
        page.write64(link, page.phys);
        page.write32(link + 8, 0);
        page.write32(link + 12, TRB_LINK << 10 | 1 << 1);
        Ok(Ring {
            page,
            index: 0,
            cycle: 1,
        })
    }

    /// Queues one TRB (the cycle bit is set here); returns its address.
    fn push(&mut self, param: u64, status: u32, control: u32) -> u64 {
        let at = self.index * 16;
        self.page.write64(at, param);
        self.page.write32(at + 8, status);
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        self.page.write32(at + 12, control | self.cycle);
        let addr = self.page.phys + at as u64;
        self.index += 1;
        if self.index == RING_TRBS - 1 {
            let link = (RING_TRBS - 1) * 16;
            let c = self.page.read32(link + 12) & !1;
            self.page.write32(link + 12, c | self.cycle);
            self.index = 0;
            self.cycle ^= 1;
        }
        addr
    }
}

#[derive(Clone, Copy, Debug)]
struct Event {
    #[allow(dead_code)] // the TRB address, for debugging
    param: u64,
    status: u32,
    control: u32,
}

impl Event {
    fn kind(&self) -> u32 {
        self.control >> 10 & 0x3f
    }
    fn code(&self) -> u32 {
        self.status >> 24
    }
    fn slot(&self) -> u8 {
        (self.control >> 24) as u8
    }
    fn endpoint(&self) -> u8 {
        (self.control >> 16 & 0x1f) as u8
    }
}

/// A device found on a root port.
pub struct UsbDevice {
    pub port: u8,
    pub speed: &'static str,
    pub vendor: u16,
    pub product: u16,
    pub class: String,
    keyboard: Option<Keyboard>,
}

struct Keyboard {
    slot: u8,
    dci: u8,
    ring: Ring,
    buffer: Page,
    last: [u8; 8],
}

struct Controller {
    name: String,
    mmio: *mut u8,
    op: usize,
    rt: usize,
    db: usize,
    ports: u8,
    context_size: usize,
    dcbaa: Page,
    commands: Ring,
    events: Page,
    event_index: usize,
    event_cycle: u32,
    devices: Vec<UsbDevice>,
}

// SAFETY: the MMIO pointer is only used under the CONTROLLERS lock.
unsafe impl Send for Controller {}

static CONTROLLERS: Mutex<Vec<Controller>> = Mutex::new(Vec::new());
static DECODER: Mutex<KeyDecoder> = Mutex::new(KeyDecoder::new());

impl Controller {
    fn r32(&self, off: usize) -> u32 {
        // SAFETY: within the mapped register space (BAR 0).
        unsafe { (self.mmio.add(off) as *const u32).read_volatile() }
    }
    fn w32(&self, off: usize, v: u32) {
        // SAFETY: as in r32.
        unsafe { (self.mmio.add(off) as *mut u32).write_volatile(v) }
    }
    fn w64(&self, off: usize, v: u64) {
        self.w32(off, v as u32);
        self.w32(off + 4, (v >> 32) as u32);
    }

    fn wait(&self, what: &'static str, mut done: impl FnMut(&Self) -> bool) -> Result<(), String> {
        let end = crate::time::uptime() + Duration::from_millis(2000);
        while !done(self) {
            if crate::time::uptime() > end {
                return Err(format!("timed out waiting for {what}"));
            }
            core::hint::spin_loop();
        }
        Ok(())
    }

    /// The next event, if the controller has written one.
    fn next_event(&mut self) -> Option<Event> {
        let at = self.event_index * 16;
        let control = self.events.read32(at + 12);
        if control & 1 != self.event_cycle {
            return None;
        }
        let e = Event {
            param: self.events.read32(at) as u64 | (self.events.read32(at + 4) as u64) << 32,
            status: self.events.read32(at + 8),
            control,
        };
        self.event_index += 1;
        if self.event_index == RING_TRBS {
            self.event_index = 0;
            self.event_cycle ^= 1;
        }
        // Tell the controller how far we read (and clear Event Handler Busy).
        let erdp = self.events.phys + (self.event_index * 16) as u64;
        self.w64(self.rt + 0x20 + 0x18, erdp | 1 << 3);
        Some(e)
    }

    /// Waits for an event of `kind` (for `slot`/`endpoint` if non-zero);
    /// other events meanwhile are handled as in `poll`.
    fn wait_event(&mut self, kind: u32, slot: u8, endpoint: u8) -> Result<Event, String> {
        let end = crate::time::uptime() + Duration::from_millis(2000);
        loop {
            if let Some(e) = self.next_event() {
                if e.kind() == kind
                    && (slot == 0 || e.slot() == slot)
                    && (endpoint == 0 || e.endpoint() == endpoint)
                {
                    return Ok(e);
                }
                self.handle_event(e);
            } else if crate::time::uptime() > end {
                return Err(format!(
                    "no event {kind} (slot {slot}, endpoint {endpoint})"
                ));
            }
        }
    }

    fn command(&mut self, param: u64, control: u32) -> Result<Event, String> {
        self.commands.push(param, 0, control);
        self.w32(self.db, 0);
        let e = self.wait_event(TRB_COMMAND_COMPLETION, 0, 0)?;
        if e.code() != CC_SUCCESS {
            return Err(format!(
                "command {} failed with completion code {}",
                control >> 10 & 0x3f,
                e.code()
            ));
        }
        Ok(e)
    }

    fn portsc_offset(&self, port: u8) -> usize {
        self.op + 0x400 + 0x10 * (port as usize - 1)
    }

    /// A control transfer on EP0 of `slot`; returns the bytes read.
    #[allow(clippy::too_many_arguments)]
    fn control(
        &mut self,
        slot: u8,
        ep0: &mut Ring,
        buffer: &Page,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        length: u16,
    ) -> Result<Vec<u8>, String> {
        let setup = request_type as u64
            | (request as u64) << 8
            | (value as u64) << 16
            | (index as u64) << 32
            | (length as u64) << 48;
        let input = request_type & 0x80 != 0;
        let trt = if length == 0 {
            0
        } else if input {
            3
        } else {
            2
        };
        ep0.push(setup, 8, TRB_SETUP << 10 | 1 << 6 | trt << 16);
        if length > 0 {
            ep0.push(
                buffer.phys,
                length as u32,
                TRB_DATA << 10 | (input as u32) << 16,
            );
        }
        // Status stage: the opposite direction of the data (IN if none).
        let status_in = length == 0 || !input;
        ep0.push(0, 0, TRB_STATUS << 10 | 1 << 5 | (status_in as u32) << 16);
        self.w32(self.db + 4 * slot as usize, 1);
        let e = self.wait_event(TRB_TRANSFER_EVENT, slot, 1)?;
        if e.code() != CC_SUCCESS && e.code() != CC_SHORT_PACKET {
            return Err(format!("control transfer failed (code {})", e.code()));
        }
        Ok(buffer.bytes(length as usize))
    }

    fn handle_event(&mut self, e: Event) {
        if e.kind() != TRB_TRANSFER_EVENT {
            return;
        }
        let (slot, endpoint) = (e.slot(), e.endpoint());
        let db = self.db;
        let mmio = self.mmio;
        for d in &mut self.devices {
            let Some(k) = d.keyboard.as_mut() else {
                continue;
            };
            if k.slot != slot || k.dci != endpoint {
                continue;
            }
            if e.code() == CC_SUCCESS || e.code() == CC_SHORT_PACKET {
                let b = k.buffer.bytes(8);
                let report: [u8; 8] = b[..8].try_into().unwrap_or([0; 8]);
                let mut decoder = DECODER.lock();
                hid_report_events(&k.last, &report, |ev| {
                    if let Some(bytes) = decoder.key_event(ev) {
                        input::push_key(bytes.as_slice());
                    }
                });
                if !report[2..].contains(&1) {
                    k.last = report;
                }
            }
            // Queue the next report.
            k.ring
                .push(k.buffer.phys, 8, TRB_NORMAL << 10 | 1 << 5 | 1 << 2);
            // SAFETY: the slot's doorbell register in the mapped BAR.
            unsafe {
                (mmio.add(db + 4 * slot as usize) as *mut u32).write_volatile(endpoint as u32)
            };
        }
    }

    /// Brings up the device on `port`: address, descriptors, and for a
    /// boot keyboard its interrupt endpoint.
    fn attach(&mut self, port: u8) -> Result<UsbDevice, String> {
        let portsc = self.portsc_offset(port);
        let sc = self.r32(portsc);
        // USB 2 ports need a reset to become enabled; USB 3 ones are.
        if sc & 1 << 1 == 0 {
            let keep = sc & !(1 << 1) & !(0x7f << 17);
            self.w32(portsc, keep | 1 << 4);
            self.wait("port reset", |c| c.r32(portsc) & 1 << 21 != 0)?;
            let sc = self.r32(portsc);
            self.w32(portsc, (sc & !(1 << 1) & !(0x7f << 17)) | 1 << 21);
            if self.r32(portsc) & 1 << 1 == 0 {
                return Err("port not enabled after reset".into());
            }
        }
        let speed_id = self.r32(portsc) >> 10 & 0xf;
        let (speed, max_packet0) = match speed_id {
            1 => ("full speed", 8u32),
            2 => ("low speed", 8),
            3 => ("high speed", 64),
            4 => ("super speed", 512),
            _ => ("super speed+", 512),
        };
        let e = self.command(0, TRB_ENABLE_SLOT << 10)?;
        let slot = e.slot();
        let out_ctx = Page::new()?;
        self.dcbaa.write64(slot as usize * 8, out_ctx.phys);
        let input_ctx = Page::new()?;
        let mut ep0 = Ring::new()?;
        let cs = self.context_size;
        // Input control: add slot and EP0.
        input_ctx.write32(4, 0b11);
        // Slot: speed, one context entry; root port.
        input_ctx.write32(cs, speed_id << 20 | 1 << 27);
        input_ctx.write32(cs + 4, (port as u32) << 16);
        // EP0: control, max packet, CErr 3, dequeue pointer with DCS.
        let ep0_ctx = 2 * cs;
        input_ctx.write32(ep0_ctx + 4, 3 << 1 | 4 << 3 | max_packet0 << 16);
        input_ctx.write64(ep0_ctx + 8, ep0.page.phys | 1);
        input_ctx.write32(ep0_ctx + 16, 8);
        self.command(
            input_ctx.phys,
            TRB_ADDRESS_DEVICE << 10 | (slot as u32) << 24,
        )?;

        let buffer = Page::new()?;
        let desc = self.control(slot, &mut ep0, &buffer, 0x80, 6, 0x0100, 0, 18)?;
        let vendor = u16::from_le_bytes([desc[8], desc[9]]);
        let product = u16::from_le_bytes([desc[10], desc[11]]);
        let head = self.control(slot, &mut ep0, &buffer, 0x80, 6, 0x0200, 0, 9)?;
        let total = u16::from_le_bytes([head[2], head[3]]).clamp(9, 1024);
        let config = self.control(slot, &mut ep0, &buffer, 0x80, 6, 0x0200, 0, total)?;
        let config_value = config[5];

        // Find a boot keyboard interface and its interrupt-IN endpoint.
        let mut i = 0;
        let mut class = String::from("unknown");
        let mut keyboard_if: Option<u8> = None;
        let mut endpoint: Option<(u8, u16, u8)> = None;
        let mut in_keyboard = false;
        while i + 2 <= config.len() {
            let (len, kind) = (config[i] as usize, config[i + 1]);
            if len < 2 || i + len > config.len() {
                break;
            }
            let d = &config[i..i + len];
            if kind == 4 && len >= 9 {
                in_keyboard = d[5] == 3 && d[6] == 1 && d[7] == 1;
                class = match (d[5], d[6], d[7]) {
                    (3, 1, 1) => "HID boot keyboard".into(),
                    (3, 1, 2) => "HID boot mouse".into(),
                    (3, _, _) => "HID".into(),
                    (8, _, _) => "mass storage".into(),
                    (9, _, _) => "hub".into(),
                    (c, s, p) => format!("class {c:02x}/{s:02x}/{p:02x}"),
                };
                if in_keyboard && keyboard_if.is_none() {
                    keyboard_if = Some(d[2]);
                }
            }
            if kind == 5 && len >= 7 && in_keyboard && endpoint.is_none() {
                let (addr, attrs) = (d[2], d[3]);
                if addr & 0x80 != 0 && attrs & 3 == 3 {
                    endpoint = Some((addr, u16::from_le_bytes([d[4], d[5]]), d[6]));
                }
            }
            if keyboard_if.is_some() && endpoint.is_some() {
                break;
            }
            i += len;
        }
        let mut device = UsbDevice {
            port,
            speed,
            vendor,
            product,
            class,
            keyboard: None,
        };
        let (Some(interface), Some((addr, max_packet, interval))) = (keyboard_if, endpoint) else {
            return Ok(device);
        };
        // SET_CONFIGURATION, then SET_PROTOCOL(boot) on the interface.
        self.control(slot, &mut ep0, &buffer, 0x00, 9, config_value as u16, 0, 0)?;
        self.control(slot, &mut ep0, &buffer, 0x21, 0x0b, 0, interface as u16, 0)?;
        // SET_IDLE(0): reports only on change (a failure here is harmless).
        let _ = self.control(slot, &mut ep0, &buffer, 0x21, 0x0a, 0, interface as u16, 0);

        let dci = 2 * (addr & 0x0f) + 1;
        let ring = Ring::new()?;
        let input_ctx = Page::new()?;
        input_ctx.write32(4, 1 | 1 << dci);
        input_ctx.write32(cs, speed_id << 20 | (dci as u32) << 27);
        input_ctx.write32(cs + 4, (port as u32) << 16);
        // xHCI interval: 2^n * 125 us.
        let xinterval = if speed_id >= 3 {
            (interval.clamp(1, 16) - 1) as u32
        } else {
            let frames = (interval.max(1) as u32) * 8;
            (31 - frames.leading_zeros()).clamp(3, 10)
        };
        let ep = (dci as usize + 1) * cs;
        input_ctx.write32(ep, xinterval << 16);
        input_ctx.write32(ep + 4, 3 << 1 | 7 << 3 | (max_packet as u32 & 0x7ff) << 16);
        input_ctx.write64(ep + 8, ring.page.phys | 1);
        input_ctx.write32(ep + 16, 8 | (max_packet as u32) << 16);
        self.command(
            input_ctx.phys,
            TRB_CONFIGURE_ENDPOINT << 10 | (slot as u32) << 24,
        )?;
        let mut k = Keyboard {
            slot,
            dci,
            ring,
            buffer: Page::new()?,
            last: [0; 8],
        };
        k.ring
            .push(k.buffer.phys, 8, TRB_NORMAL << 10 | 1 << 5 | 1 << 2);
        self.w32(self.db + 4 * slot as usize, dci as u32);
        device.keyboard = Some(k);
        Ok(device)
    }
}

/// Hands the controller over from the firmware (USB legacy support).
fn take_ownership(mmio: *mut u8, hccparams1: u32) {
    let mut off = ((hccparams1 >> 16) as usize) * 4;
    for _ in 0..64 {
        if off == 0 {
            return;
        }
        // SAFETY: extended capabilities lie within BAR 0.
        let cap = unsafe { (mmio.add(off) as *const u32).read_volatile() };
        if cap & 0xff == 1 {
            let p = mmio.wrapping_add(off) as *mut u32;
            // SAFETY: set "OS owned" (bit 24), wait for "BIOS owned" (16)
            // to clear; then turn off the legacy SMIs (next dword).
            unsafe {
                p.write_volatile(cap | 1 << 24);
                let end = crate::time::uptime() + Duration::from_millis(1000);
                while p.read_volatile() & 1 << 16 != 0 && crate::time::uptime() < end {
                    core::hint::spin_loop();
                }
                let ctl = p.add(1);
                ctl.write_volatile(ctl.read_volatile() & 0xffff_0000 & !0x1f);
            }
            return;
        }
        let next = (cap >> 8 & 0xff) as usize;
        if next == 0 {
            return;
        }
        off += next * 4;
    }
}

fn init_controller(d: &Device) -> Result<Controller, String> {
    let Some(Bar::Memory { phys, size, .. }) = pci::bar(d.address, 0) else {
        return Err("no memory BAR".into());
    };
    pci::enable_memory_and_dma(d.address);
    let mmio = paging::map_mmio(PhysAddr::new(phys), size.max(0x1000))
        .map_err(|e| format!("mapping BAR 0: {e:?}"))?
        .as_mut_ptr::<u8>();
    // SAFETY: capability registers at the start of BAR 0.
    let (caplen, hcs1, hcs2, hcc1, dboff, rtsoff) = unsafe {
        let r = |o: usize| (mmio.add(o) as *const u32).read_volatile();
        (r(0) & 0xff, r(4), r(8), r(0x10), r(0x14), r(0x18))
    };
    take_ownership(mmio, hcc1);
    let mut c = Controller {
        name: format!(
            "{:02x}:{:02x}.{}",
            d.address.bus, d.address.device, d.address.function
        ),
        mmio,
        op: caplen as usize,
        rt: (rtsoff & !0x1f) as usize,
        db: (dboff & !0x3) as usize,
        ports: (hcs1 >> 24) as u8,
        context_size: if hcc1 & 1 << 2 != 0 { 64 } else { 32 },
        dcbaa: Page::new()?,
        commands: Ring::new()?,
        events: Page::new()?,
        event_index: 0,
        event_cycle: 1,
        devices: Vec::new(),
    };
    let op = c.op;
    // Halt, then reset.
    c.w32(op, c.r32(op) & !1);
    c.wait("halt", |c| c.r32(op + 4) & 1 != 0)?;
    c.w32(op, 1 << 1);
    c.wait("reset", |c| {
        c.r32(op) & 1 << 1 == 0 && c.r32(op + 4) & 1 << 11 == 0
    })?;

    let slots = hcs1 & 0xff;
    c.w32(op + 0x38, slots);
    // Scratchpad buffers the controller asks for.
    let scratch = ((hcs2 >> 21 & 0x1f) << 5 | hcs2 >> 27) as usize;
    if scratch > 0 {
        let array = Page::new()?;
        for i in 0..scratch.min(512) {
            array.write64(i * 8, Page::new()?.phys);
        }
        c.dcbaa.write64(0, array.phys);
    }
    c.w64(op + 0x30, c.dcbaa.phys);
    c.w64(op + 0x18, c.commands.page.phys | 1);
    // Event ring: one segment, described by a one-entry table.
    let erst = Page::new()?;
    erst.write64(0, c.events.phys);
    erst.write32(8, RING_TRBS as u32);
    let ir0 = c.rt + 0x20;
    c.w32(ir0 + 0x08, 1);
    c.w64(ir0 + 0x18, c.events.phys);
    c.w64(ir0 + 0x10, erst.phys);
    // Run (interrupts stay off: we poll).
    c.w32(op, 1);
    c.wait("run", |c| c.r32(op + 4) & 1 == 0)?;
    // Give the ports a moment to report connections.
    crate::time::sleep(Duration::from_millis(50));
    for port in 1..=c.ports {
        if c.r32(c.portsc_offset(port)) & 1 == 0 {
            continue;
        }
        match c.attach(port) {
            Ok(dev) => c.devices.push(dev),
            Err(e) => log::warn!("USB {} port {port}: {e}", c.name),
        }
    }
    Ok(c)
}

/// Finds the xHCI controllers (PCI class 0c/03/30) and their devices.
pub fn init(devices: &[Device]) {
    let mut all = CONTROLLERS.lock();
    for d in devices
        .iter()
        .filter(|d| d.class == 0x0c && d.subclass == 0x03 && d.prog_if == 0x30)
    {
        match init_controller(d) {
            Ok(c) => {
                let keyboards = c.devices.iter().filter(|d| d.keyboard.is_some()).count();
                log::info!(
                    "USB: xHCI {} with {} ports, {} device(s), {} keyboard(s)",
                    c.name,
                    c.ports,
                    c.devices.len(),
                    keyboards
                );
                all.push(c);
            }
            Err(e) => log::warn!("USB: xHCI controller not used: {e}"),
        }
    }
}

/// Collects keyboard reports (call often: the console does while it
/// waits for input).
pub fn poll() {
    let Some(mut all) = CONTROLLERS.try_lock() else {
        return;
    };
    for c in all.iter_mut() {
        while let Some(e) = c.next_event() {
            c.handle_event(e);
        }
    }
}

/// One line per device, for `/usb`.
pub fn describe() -> Vec<String> {
    let all = CONTROLLERS.lock();
    let mut out = Vec::new();
    for c in all.iter() {
        out.push(format!("xHCI {}: {} root ports", c.name, c.ports));
        for d in &c.devices {
            out.push(format!(
                "  port {}: {:04x}:{:04x} {} ({}){}",
                d.port,
                d.vendor,
                d.product,
                d.class,
                d.speed,
                if d.keyboard.is_some() {
                    ", typing into the console"
                } else {
                    ""
                }
            ));
        }
    }
    out
}

/// The keyboard layout of USB keyboards (follows `/keymap`).
pub fn set_layout(name: &str) {
    let _ = DECODER.lock().set_layout(name);
}
