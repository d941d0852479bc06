"""Procedural demo dataset: animated Kinect v2 skeletons doing 18 kinds of actions.

It is the default data of every config, so ``python -m skel_jax.main`` runs anywhere without a
download, and the tests use it. It is meant as a small testbed for self-supervised
pretraining (an ST-GCN encoder, MoCo-style contrastive learning): the class is defined only by
*how the limbs move*, while every clip carries strong nuisance (posture, viewpoint, style,
timing, distractor gestures), so the pooled features of a randomly initialised encoder
separate the classes poorly (with the ``demo`` preset, the NTU preprocessing
(skel_jax/data/preprocess.py) and 10 classes, a cosine 10-NN on them scores about 50-58 %
depending on the init seed, while a 10-NN on hand-made per-joint motion energies reaches about
75 %). The nuisance is mostly of the kinds the pretraining augmentations perturb
(SkeletonCLR's `feeder/tools.py`: a shear of the whole clip and a temporal crop): posture,
camera tilt and timing. What the two views of a clip always share is its action; body size,
speed and range of motion, which they also share, vary only a little.

**Body.** A rest pose in metres with Kinect v2 proportions (about 1.65 m tall at scale 1),
y up, facing the camera (-z), the subject's left at -x as in NTU recordings. The pose is
animated by joint rotations and forward kinematics along the layout's bones (the ``ntu25``
tree re-rooted at the spine base), so every bone keeps its length within a clip. Each frame
the body is lowered or raised so that its lowest foot joint stands on the floor (squats and
walking bob the pelvis), jumps add a lift on top.

**Classes** (``class_names``; the first ``num_classes`` are used). The first ten form
confusable pairs and groups: the same limbs moving mirrored (0-1, 5-6), faster or slower
(2-3), repeated or once (7-8) or in reverse order (8-9).

====  ================  ===========================================================
 id   name              motion
====  ================  ===========================================================
 0    wave_right_hand   right arm raised (sideways to forwards), forearm swings sideways
 1    wave_left_hand    the same with the left arm
 2    punch_forward     one arm (either) punches quickly from a guard, the other guards
 3    reach_forward     one arm (either) slowly reaches forward from hanging and returns
 4    clap_hands        arms forward, hands open and meet at the midline
 5    kick_right_leg    right thigh flexes with a bent then extending knee
 6    kick_left_leg     the same with the left leg
 7    squat             hips and knees bend and straighten repeatedly (pelvis drops)
 8    sit_down          hips and knees bend once into a sitting pose that is held
 9    stand_up          the reverse: seated at first, rises once and stays standing
 10   walk_in_place     alternating hip and knee flexion, arms swing in opposition
 11   jump              crouch, then airborne with straight legs and arms swung up
 12   bow               trunk bends forward from the hips, arms hanging
 13   raise_both_arms   both straight arms raised forward to overhead and lowered
 14   jumping_jacks     arms abduct overhead while the legs spread, small hops
 15   drink_water       one hand (either) brought to the mouth, head tilts back
 16   arm_circles       both arms held sideways and circled
 17   turn_torso        trunk twists left and right about the vertical, elbows bent
====  ================  ===========================================================

**Within-class style and timing** (per person): range of motion (amplitude x U(0.85, 1.15),
drifting up to +-10 % within the clip); four style knobs per action (e.g. how high and in
which direction the waving arm is raised, guard height, how deep the seat is, arm swing
while walking, arms forward or on the hips in a squat); the acting side of one-armed
actions; tempo (cycles per clip x U(0.85, 1.2)) that speeds up and slows down within the
clip (a smooth time warp); random phase; and a random active window: a repeated action fades
in and out (onset up to 35 % into the clip, offset from 65 % on), a once-only action
(sit_down, stand_up) makes its transition between 15 % and 75 % of the clip. While an action
drives a limb, that limb's resting posture fades out.

**Nuisance** (per person): body scale U(0.93, 1.07) and arm / leg proportions (+-5 %); a
resting posture (trunk bend, twist and lean; head tilt and turn; per arm flexion,
abduction, elbow bend and inward turn, from hanging to hands on the hips, crossed or
clasped; stance width and knee bend); slow idle sway of trunk, head and limbs; up to two
distractor gestures (scratch head, gesture with a hand, look around, nod, weight shift,
shuffle a foot, twist, lean), each with probability 0.5 at a random time and 40-90 % of full
size; facing rotation about the vertical U(-max_yaw_deg, max_yaw_deg); camera pitch
U(-12, 12) and roll U(-6, 6) degrees; camera height U(0.7, 1.1) m, subject at x
U(-0.3, 0.3) m, depth z U(2.6, 3.4) m. Sensor noise: i.i.d. Gaussian of std ``noise_std`` on
every joint, sqrt(2) times that on the hands and feet (Kinect jitters most there), and on
those distal joints occasional tracking glitches (probability 0.03 per joint and person:
1-4 frames displaced by N(0, (6 noise_std)^2) per axis); all of it scales with
``noise_std``. With probability ``two_person_prob`` a second person does the same action
with its own body, style, timing and distractors, 0.7-1.1 m to the side; otherwise person 2
is all zeros, the NTU convention for an absent body (`tools/ntu_gendata.py` of the reference
repositories). Coordinates are camera space, like raw NTU data before the reference
preprocessing (`feeder/preprocess_ntu.py`); all T frames are valid.

Other layouts whose joints are named like ``ntu25`` joints (or the Kinect v1 names
``hip_center``, ``spine``, ``shoulder_center``, e.g. ``kinect_v1_20``) get the same bodies,
sampled at their joints.

The package: skel_jax/data/synthetic/body.py (rest pose, bone tree, kinematics),
actions.py (the classes, distractors, idle motion) and generator.py (draws, animation, camera,
noise, splits).
"""

from skel_jax.data.synthetic.actions import CLASS_NAMES, MAX_CLASSES, class_names
from skel_jax.data.synthetic.generator import (
    demo_splits,
    make_synthetic,
    make_synthetic_splits,
    shear_clips,
)

__all__ = ["CLASS_NAMES", "MAX_CLASSES", "class_names", "demo_splits", "make_synthetic",
           "make_synthetic_splits", "shear_clips"]
