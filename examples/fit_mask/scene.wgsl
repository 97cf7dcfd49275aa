// fit_mask's differentiable scene: soft-rasterised circles, one per foreground class.
// `rasterise` writes class logits for softdice (background 0, class k+1: (r_k - |x - c_k|) / tau:
// positive inside circle k, a soft edge tau pixels wide); `backward` takes softdice's
// d loss / d logits back to the circles' centres and radii (one workgroup per circle, a
// fixed-order tree sum) and applies one SGD step with momentum. Bindings: scene (uniform),
// circles [k] = (cx, cy, r, unused) (read-write), velocity [k] (read-write), logits [C][H W]
// (write), grad [C][H W] (read).

struct Scene {
    width: u32,
    height: u32,
    circles: u32,
    tau: f32,
    lr: f32,
    momentum: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> scene: Scene;
@group(0) @binding(1) var<storage, read_write> circles: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> velocity: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;

const WG: u32 = 256u;

fn centre_of(p: u32) -> vec2<f32> {
    return vec2<f32>(f32(p % scene.width) + 0.5, f32(p / scene.width) + 0.5);
}

@compute @workgroup_size(WG)
fn rasterise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) n_wg: vec3<u32>) {
    let n = scene.width * scene.height;
    for (var p = gid.x; p < n; p += n_wg.x * WG) {
        logits[p] = 0.0;
        let x = centre_of(p);
        for (var k = 0u; k < scene.circles; k++) {
            let c = circles[k];
            logits[(k + 1u) * n + p] = (c.z - distance(x, c.xy)) / scene.tau;
        }
    }
}

var<workgroup> partial: array<vec3<f32>, WG>;

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let k = wid.x;
    let n = scene.width * scene.height;
    let c = circles[k];
    // d loss / d (cx, cy, r) = sum over pixels of g (d z / d param), z = (r - |x - c|) / tau.
    var s = vec3<f32>(0.0);
    for (var p = lid; p < n; p += WG) {
        let g = grad[(k + 1u) * n + p];
        let d = centre_of(p) - c.xy;
        let dist = max(length(d), 1e-3);
        s += g * vec3<f32>(d / dist, 1.0);
    }
    partial[lid] = s / scene.tau;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (lid < half) {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let v = scene.momentum * velocity[k].xyz + partial[0];
        velocity[k] = vec4<f32>(v, 0.0);
        let r = max(c.z - scene.lr * v.z, 1.0);
        circles[k] = vec4<f32>(c.xy - scene.lr * v.xy, r, c.w);
    }
}
