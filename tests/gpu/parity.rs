//! Parity with PyTorch, MONAI, smp and nnU-Net: every case of the reference fixtures, on the
//! GPU and on the CPU oracle, through the same runner as `examples/parity`.

use softdice_support::cases;

use crate::common::*;

/// A fixture file of `tests/fixtures/`.
fn load(name: &str) -> cases::Fixture {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    cases::Fixture::load(&path).unwrap()
}

fn run_file(name: &str) {
    let fixture = load(name);
    assert!(!fixture.cases.is_empty());
    let ctx = ctx();
    let failures: Vec<String> = fixture
        .cases
        .iter()
        .map(|case| cases::run_case(&fixture, case, ctx))
        .filter(|o| !o.pass)
        .map(|o| {
            format!(
                "{}: loss {:e} grad {:e} ({})",
                o.id, o.loss_err, o.grad_err, o.note
            )
        })
        .collect();
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

#[test]
fn reference_cases() {
    run_file("reference_cases.json");
}

/// The same generator, its "heldout" profile: other shapes (C = 5, 3-D C = 4, binary 2x15x6).
#[test]
fn heldout_profile_cases() {
    run_file("heldout_cases.json");
}

/// Option combinations the 33 cases leave out (tools/gen_extra_fixtures.py): Generalized
/// Dice over the batch and unreduced, smp class subsets with weights and smoothing, multilabel
/// ignore, probabilities in, 1-D inputs.
#[test]
fn extra_option_cases() {
    run_file("extra_cases.json");
}

/// Where the peers differ from the textbook (tools/gen_fidelity_fixtures.py): smp's L1
/// intersection on soft targets and on predictions equal to their targets, smp and MONAI
/// Tversky (alpha, beta, gamma) and smp Jaccard, MONAI's single-channel fallbacks (with its
/// warnings), `other_act`, tuple/tensor/scalar weights, positional arguments and MONAI's
/// spatial ignore mask on one-hot targets.
#[test]
fn fidelity_cases() {
    run_file("fidelity_cases.json");
}

/// Dice + cross-entropy (tools/gen_compound_fixtures.py): PyTorch `CrossEntropyLoss` and
/// `BCEWithLogitsLoss`, MONAI `DiceCELoss`, nnU-Net `DC_and_CE_loss`.
#[test]
fn compound_cases() {
    run_file("compound_cases.json");
}

/// The loss families beyond Dice (tools/gen_family_fixtures.py): smp `MCCLoss`.
#[test]
fn family_cases() {
    run_file("family_cases.json");
}

#[test]
fn a_wrong_call_is_a_failure_not_a_skip() {
    let mut fixture = load("reference_cases.json");
    let mut case = fixture.cases.remove(4);
    case.call = "monai.losses.DiceLoss(to_onehot_y=True, softmax=True, focal=True)".into();
    let o = cases::run_case(&fixture, &case, None);
    assert!(!o.pass && o.note.contains("focal"), "{}", o.note);
    // A loss that differs from the library's fails too.
    let mut case = fixture.cases.remove(4);
    case.loss[0] *= 1.0 + 1e-4;
    assert!(!cases::run_case(&fixture, &case, None).pass);
}

/// MONAI's focal losses with `reduction='none'` return an element-wise tensor softdice does
/// not output: the runner refuses the call by name, it does not compute another reduction.
#[test]
fn a_focal_call_with_reduction_none_is_refused() {
    let mut fixture = load("compound_cases.json");
    for id in ["monai_dicefocal_sum", "monai_focal_softmax_sum"] {
        let at = fixture.cases.iter().position(|c| c.id == id).unwrap();
        let mut case = fixture.cases.remove(at);
        case.call = case.call.replace("reduction='sum'", "reduction='none'");
        let o = cases::run_case(&fixture, &case, None);
        assert!(
            !o.pass && o.note.contains("reduction='none'"),
            "{id}: {}",
            o.note
        );
    }
}

#[test]
fn presets_are_the_configs_the_python_calls_map_to() {
    use softdice::{DiceConfig, GeneralizedWeight};
    let fixture = load("reference_cases.json");
    let config_of = |id: &str| {
        let case = fixture.cases.iter().find(|c| c.id == id).unwrap();
        cases::map_case(&fixture, case).unwrap().config
    };
    assert_eq!(config_of("seed_probs"), DiceConfig::seed());
    assert_eq!(config_of("monai_default"), DiceConfig::monai());
    assert_eq!(
        config_of("monai_generalized_simple"),
        DiceConfig::monai_generalized(GeneralizedWeight::Simple)
    );
    assert_eq!(config_of("smp_multiclass"), DiceConfig::smp_multiclass());
    assert_eq!(config_of("smp_multilabel"), DiceConfig::smp_multilabel());
    assert_eq!(config_of("nnunet_batch_nobg"), DiceConfig::nnunet());
    let compound = load("compound_cases.json");
    let compound_of = |id: &str| {
        let case = compound.cases.iter().find(|c| c.id == id).unwrap();
        cases::map_case(&compound, case).unwrap().config
    };
    assert_eq!(compound_of("monai_dicece"), DiceConfig::monai_dice_ce());
    assert_eq!(compound_of("nnunet_dc_ce"), DiceConfig::nnunet_dc_and_ce());
}
