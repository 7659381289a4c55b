// Adam on plain Float32Arrays, for stage 2 on ONNX Runtime (the gradients come out of the graph; the update is
// cheap next to the step). The same rule and defaults as tfjs's tf.train.adam, which the tfjs path uses.

export class Adam {
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  /** β1^t and β2^t for the bias correction (tfjs's accBeta1/2 start at β). */
  private beta1Power: number;
  private beta2Power: number;

  constructor(
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    /** tfjs's default: the float32 backends' epsilon. */
    private readonly epsilon = 1e-7,
  ) {
    this.beta1Power = beta1;
    this.beta2Power = beta2;
  }

  /** Updates every parameter in place with its gradient (by the same name). */
  apply(params: Map<string, Float32Array>, grads: Map<string, Float32Array>): void {
    const { learningRate: lr, beta1: b1, beta2: b2, epsilon } = this;
    const c1 = 1 - this.beta1Power;
    const c2 = 1 - this.beta2Power;
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g || g.length !== p.length) throw new Error(`internal: no gradient of ${p.length} values for ${name}`);
      let m = this.m.get(name);
      let v = this.v.get(name);
      if (!m || !v) {
        m = new Float32Array(p.length);
        v = new Float32Array(p.length);
        this.m.set(name, m);
        this.v.set(name, v);
      }
      for (let i = 0; i < p.length; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + epsilon);
      }
    }
    this.beta1Power *= b1;
    this.beta2Power *= b2;
  }
}
