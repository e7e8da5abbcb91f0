//! The decoder split over thread teams of 1 to 4 workers computes exactly
//! the same logits as one worker, on SmolLM2 (prefill in batches and
//! decode), with the best backend of this CPU.

mod common;

use model_loader::model::Model;
use model_loader::parallel::{Team, ThreadTeam, SERIAL};
use model_loader::quant;
use model_loader::session::Session;

fn run(model: &Model<'_>, team: &'static dyn Team) -> Vec<Vec<f32>> {
    let mut s = Session::new(model, quant::best(), 64, 16).unwrap();
    s.set_team(team);
    let prompt: Vec<u32> = (0..37).map(|i| 100 + 37 * i).collect();
    let mut out = vec![s.prefill(&prompt, None).unwrap().to_vec()];
    for t in [1u32, 2000, 300, 4] {
        out.push(s.decode_step(t).unwrap().to_vec());
    }
    out
}

#[test]
fn smollm2_logits_identical_for_1_to_4_workers() {
    let bytes = common::read_model(common::SMOLLM2);
    let model = Model::load(&bytes).unwrap();
    let want = run(&model, &SERIAL);
    assert!(want.iter().all(|l| l.iter().all(|x| x.is_finite())));
    for n in 1..=4 {
        let team = ThreadTeam::leak(n).unwrap();
        assert_eq!(team.workers(), n);
        let got = run(&model, team);
        assert!(got == want, "{n} workers: logits differ from one worker's");
    }
}
